package transform

import (
	"strconv"

	"github.com/redferry/redferry/pkg/server"
)

// trimRefRows: trims with Redis 8.2's reference policies, before the rows
// for 6.0 (MINID), as their script trims by either strategy.
func trimRefRows() []translation {
	return []translation{
		{command: "xadd", form: "XADD k KEEPREF|DELREF|ACKED … id f v …", from: "Redis 8.6",
			takes: "Redis 8.2+", into: "KEEPREF: dropped; DELREF/ACKED: XADD without the trim, then an EVAL that trims by the policy",
			match:   func(a [][]byte) bool { return parseStreamArgs(a, true).has(optRef) },
			accepts: server.Info.StreamRefs, rewrite: (*Translator).trimRefs},
		{command: "xtrim", form: "XTRIM k MAXLEN|MINID = n KEEPREF|DELREF|ACKED", from: "Redis 8.6",
			takes: "Redis 8.2+", into: "KEEPREF: dropped; DELREF/ACKED: an EVAL that trims by the policy",
			match:   func(a [][]byte) bool { return parseStreamArgs(a, false).has(optRef) },
			accepts: server.Info.StreamRefs, rewrite: (*Translator).trimRefs},
	}
}

// Redis 8.2's reference policies (KEEPREF, DELREF, ACKED) and 8.6's
// idempotent producers, for targets without them.
func streamRefRows() []translation {
	return []translation{
		{command: "xdelex", form: "XDELEX k [KEEPREF|DELREF|ACKED] IDS n id …", from: "Redis 8.6",
			takes: "Redis 8.2+", into: "an EVAL: XDEL (KEEPREF), XDEL + XACK in every group (DELREF), XDEL of the ids no group references (ACKED)",
			accepts: server.Info.StreamRefs,
			rewrite: func(t *Translator, c *call) error { return t.refScript(c, xdelexScript, 2, nil) }},
		{command: "xackdel", form: "XACKDEL k g [KEEPREF|DELREF|ACKED] IDS n id …", from: "Redis 8.6",
			takes: "Redis 8.2+", into: "an EVAL: XACK in the group, then as XDELEX",
			accepts: server.Info.StreamRefs,
			rewrite: func(t *Translator, c *call) error {
				if len(c.args) < 3 {
					return t.pass(c)
				}
				return t.refScript(c, xackdelScript, 3, c.args[2])
			}},
	}
}

// refScript sends XDELEX key [policy] IDS n id … (policy from index at on)
// or XACKDEL key group [policy] IDS n id … to script as KEYS[1], ARGV:
// [group], policy, ids.
func (t *Translator) refScript(c *call, script string, at int, group []byte) error {
	args := c.args
	policy := word("KEEPREF")
	if at < len(args) && isAny(args[at], "keepref", "delref", "acked") {
		policy = args[at]
		at++
	}
	if at+2 > len(args) || !is(args[at], "ids") {
		return t.pass(c)
	}
	n, err := strconv.Atoi(string(args[at+1]))
	if err != nil || n < 1 || at+2+n != len(args) {
		return t.pass(c)
	}
	out := [][]byte{word("EVAL"), word(script), word("1"), args[1]}
	if group != nil {
		out = append(out, group)
	}
	out = append(out, policy)
	t.emit(c, append(out, args[at+2:]...)...)
	return nil
}

// trimRefs: KEEPREF is the classic trim; DELREF and ACKED trim by script
// (after the XADD without its trim).
func (t *Translator) trimRefs(c *call) error {
	xadd := c.name == "xadd"
	s := parseStreamArgs(c.args, xadd)
	ref, _ := s.find(optRef)
	policy := c.args[ref.at]
	if is(policy, "keepref") {
		return t.again(c, s.without(optRef))
	}
	if _, ok := s.find(optTrim); !ok {
		return t.again(c, s.without(optRef)) // nothing to trim: the policy does not matter
	}
	o, _ := s.find(optTrim)
	strategy, threshold := c.args[o.at], s.threshold()
	if xadd {
		if err := t.again(c, s.without(optRef, optTrim, optLimit)); err != nil {
			return err
		}
	}
	t.emit(c, word("EVAL"), word(trimRefsScript), word("1"), c.args[1], strategy, threshold, policy)
	return nil
}
