package transform

import (
	"github.com/redferry/redferry/pkg/server"
	"github.com/redferry/redferry/pkg/unholdable"
)

func streamRows() []translation {
	rows := []translation{
		{command: "xadd", form: "XADD k IDMP p iid|IDMPAUTO p … id f v …", from: "Redis 8.6 (an added entry with its id; a duplicate with id *)",
			takes: "none (an explicit id with IDMP only from the server's own master)",
			into: "XADD k id f v … (IDMP dropped), then XIDMPRECORD k p iid id (Redis 8.6.2+; IDMPAUTO's iid computed from the fields as the source does); " +
				"a duplicate (id *): as it is where the target knows the id, else dropped. " +
				"Where the ids cannot be recorded (no IDMP, no XIDMPRECORD): on-unholdable-idmp: stop (default), " +
				"convert: XADD k id f v …, skip: dropped",
			match: func(a [][]byte) bool { return parseStreamArgs(a, true).has(optIDMP) }, rewrite: (*Translator).xaddIDMP},
		{command: "xcfgset", form: "XCFGSET k IDMP-DURATION d IDMP-MAXSIZE m", from: "Redis 8.6",
			takes: "Redis 8.6+", into: "dropped: the target has no idempotent producers to configure (their ids go by on-unholdable-idmp)",
			accepts: server.Info.StreamIDMP, rewrite: func(t *Translator, c *call) error { return nil }},
		{command: "xidmprecord", form: "XIDMPRECORD k p iid id", from: "Redis 8.6.2+",
			takes: "Redis 8.6.2+", into: "on-unholdable-idmp: stop (default), or skip, convert: dropped",
			accepts: server.Info.IDMPRecord, rewrite: idmpState},
		{command: "xadd", form: "XADD k MAXLEN|MINID = n LIMIT c id …", from: "Redis 6.2+, Valkey (approximate trims as exact)",
			takes: "none (only from the server's own master)", into: "LIMIT c dropped",
			match: func(a [][]byte) bool { return parseStreamArgs(a, true).exactLimit() }, rewrite: (*Translator).dropLimit},
		{command: "xtrim", form: "XTRIM k MAXLEN|MINID = n LIMIT c", from: "Redis 6.2+, Valkey (approximate trims as exact)",
			takes: "none (only from the server's own master)", into: "LIMIT c dropped",
			match: func(a [][]byte) bool { return parseStreamArgs(a, false).exactLimit() }, rewrite: (*Translator).dropLimit},
	}
	rows = append(rows, trimRefRows()...)
	return append(rows, []translation{
		{command: "xadd", form: "XADD k NOMKSTREAM …", from: "Redis 6.2+, Valkey",
			takes: "Redis 6.2+, Valkey", into: "NOMKSTREAM dropped (propagated only when the stream exists)",
			match:   func(a [][]byte) bool { return parseStreamArgs(a, true).has(optNoMkStream) },
			accepts: server.Info.StreamTrimV2, rewrite: (*Translator).dropNoMkStream},
		{command: "xadd", form: "XADD k MINID = id id f v …", from: "Redis 6.2+, Valkey",
			takes: "Redis 6.2+, Valkey", into: "XADD k id f v …, then an EVAL that XDELs the entries before the minimum id",
			match:   func(a [][]byte) bool { return parseStreamArgs(a, true).trimBy("minid") },
			accepts: server.Info.StreamTrimV2, rewrite: (*Translator).minID},
		{command: "xtrim", form: "XTRIM k MINID = id", from: "Redis 6.2+, Valkey",
			takes: "Redis 6.2+, Valkey", into: "an EVAL that XDELs the entries before the minimum id",
			match:   func(a [][]byte) bool { return parseStreamArgs(a, false).trimBy("minid") },
			accepts: server.Info.StreamTrimV2, rewrite: (*Translator).minID},
		{command: "xgroup", form: "XGROUP CREATE|SETID k g id … ENTRIESREAD n", from: "Redis 7.0+, Valkey",
			takes: "Redis 7.0+, Valkey", into: "ENTRIESREAD n dropped",
			match: func(a [][]byte) bool {
				return len(a) > 5 && isAny(a[1], "create", "setid") && hasFlag(a, 5, "entriesread")
			},
			accepts: server.Info.StreamV2, rewrite: (*Translator).xgroupEntriesRead},
		{command: "xgroup", form: "XGROUP CREATECONSUMER k g c", from: "Redis 6.2+, Valkey",
			takes: "Redis 6.2+, Valkey", into: "XREADGROUP GROUP g c COUNT 1 STREAMS k <past every id>",
			match:   func(a [][]byte) bool { return len(a) == 5 && is(a[1], "createconsumer") },
			accepts: server.Info.CreateConsumer,
			rewrite: func(t *Translator, c *call) error {
				t.emit(c, createConsumer(t.caps, c.args[2], c.args[3], c.args[4])...)
				return nil
			}},
		{command: "xclaim", form: "XCLAIM k g c 0 id … (of a deleted entry)", from: "Redis 7.0+, Valkey (XREADGROUP, XAUTOCLAIM, XCLAIM)",
			takes: "Redis 7.0+, Valkey", into: "an EVAL: XACK the deleted ids, XCLAIM the rest (7.0+ drops them from the PEL, 6.x keeps them)",
			match:   func(a [][]byte) bool { return len(a) >= 6 },
			when:    server.Info.StreamV2,
			accepts: server.Info.StreamV2,
			rewrite: func(t *Translator, c *call) error {
				args := append([][]byte{word("EVAL"), word(xclaimScript), word("1"), c.args[1]}, c.args[2:]...)
				t.emit(c, args...)
				return nil
			}},
		{command: "xclaim", form: "XCLAIM k g c 0 id … (of a pending entry whose message was deleted)", from: "Redis 6.x (XREADGROUP, XCLAIM)",
			takes: "Redis 6.x", into: "an EVAL: XCLAIM as it is, unless a pending entry's message is gone (6.x moves it to the consumer, 7.0+ " +
				"drops it from the PEL): then the entries above the id are taken out, a placeholder message with the id is added, " +
				"claimed and deleted, the entries put back and last-generated-id, entries-added, max-deleted-entry-id restored by XSETID " +
				"(a key from a 6.x snapshot has max-deleted-entry-id 0-0, which no command sets back: it keeps the highest claimed id, whose message the source did delete)",
			match:   func(a [][]byte) bool { return len(a) >= 6 },
			when:    func(source server.Info) bool { return !source.RedisCompat.IsZero() && !source.StreamV2() },
			accepts: func(target server.Info) bool { return !target.StreamV2() },
			rewrite: func(t *Translator, c *call) error {
				args := append([][]byte{word("EVAL"), word(xclaimKeepScript), word("1"), c.args[1]}, c.args[2:]...)
				t.emit(c, args...)
				return nil
			}},
		{command: "xsetid", form: "XSETID k id ENTRIESADDED n MAXDELETEDID id", from: "Redis 7.0+, Valkey",
			takes: "Redis 7.0+, Valkey", into: "both options dropped",
			match:   func(a [][]byte) bool { return len(a) > 3 },
			accepts: server.Info.StreamV2,
			rewrite: func(t *Translator, c *call) error {
				args := append([][]byte{}, c.args[:3]...)
				t.emit(c, appendStripped(args, c.args[3:], "entriesadded", "maxdeletedid")...)
				return nil
			}},
	}...)
}

// Stream command options.
const (
	optNoMkStream = iota + 1
	optRef        // KEEPREF, DELREF, ACKED
	optIDMP       // IDMP p i, IDMPAUTO p
	optTrim       // MAXLEN|MINID [=|~] threshold
	optLimit      // LIMIT count
)

// streamArgs is where the options of XADD or XTRIM are.
type streamArgs struct {
	args [][]byte
	opts [8]streamOpt // the first n: no allocation
	n    int
	id   int  // XADD: the index of the entry id; XTRIM: len(args)
	ok   bool // the command parsed
}

type streamOpt struct {
	kind, at, n int
}

// parseStreamArgs reads XADD key [options] id field value … (xadd) or
// XTRIM key [options]. ok is false for what it does not understand.
func parseStreamArgs(args [][]byte, xadd bool) streamArgs {
	s := streamArgs{args: args, id: len(args)}
	i := 2
	for i < len(args) {
		a := args[i]
		var o streamOpt
		switch {
		case is(a, "nomkstream"):
			o = streamOpt{optNoMkStream, i, 1}
		case isAny(a, "keepref", "delref", "acked"):
			o = streamOpt{optRef, i, 1}
		case is(a, "idmp"):
			o = streamOpt{optIDMP, i, 3}
		case is(a, "idmpauto"):
			o = streamOpt{optIDMP, i, 2}
		case isAny(a, "maxlen", "minid"):
			o = streamOpt{optTrim, i, 2}
			if i+1 < len(args) && isAny(args[i+1], "=", "~") {
				o.n = 3
			}
		case is(a, "limit"):
			o = streamOpt{optLimit, i, 2}
		default:
			if !xadd {
				return s
			}
			s.id = i
			s.ok = i+1 < len(args)
			return s
		}
		if i+o.n > len(args) || s.n == len(s.opts) {
			return s
		}
		s.opts[s.n] = o
		s.n++
		i += o.n
	}
	s.ok = !xadd // an XADD needs its id
	return s
}

func (s streamArgs) find(kind int) (streamOpt, bool) {
	for _, o := range s.opts[:s.n] {
		if o.kind == kind {
			return o, true
		}
	}
	return streamOpt{}, false
}

func (s streamArgs) has(kind int) bool {
	_, ok := s.find(kind)
	return s.ok && ok
}

// exactLimit: an exact trim ("=" or no marker) with LIMIT, which servers
// accept only from their own master.
func (s streamArgs) exactLimit() bool {
	o, ok := s.find(optTrim)
	return s.has(optLimit) && ok && !(o.n == 3 && is(s.args[o.at+1], "~"))
}

// trimBy reports whether the trim strategy is name ("maxlen", "minid").
func (s streamArgs) trimBy(name string) bool {
	o, ok := s.find(optTrim)
	return s.ok && ok && is(s.args[o.at], name)
}

// threshold is the trim's MAXLEN count or MINID id.
func (s streamArgs) threshold() []byte {
	o, _ := s.find(optTrim)
	return s.args[o.at+o.n-1]
}

// without returns the command without the options of the kinds given.
func (s streamArgs) without(kinds ...int) [][]byte {
	out := make([][]byte, 0, len(s.args))
	next := 0
	for _, o := range s.opts[:s.n] {
		for _, k := range kinds {
			if o.kind == k {
				out = append(out, s.args[next:o.at]...)
				next = o.at + o.n
				break
			}
		}
	}
	return append(out, s.args[next:]...)
}

func (t *Translator) dropLimit(c *call) error {
	return t.again(c, parseStreamArgs(c.args, c.name == "xadd").without(optLimit))
}

func (t *Translator) dropNoMkStream(c *call) error {
	return t.again(c, parseStreamArgs(c.args, true).without(optNoMkStream))
}

// xaddIDMP: Redis 8.6 propagates an XADD … IDMP that added an entry with its
// id, which no server takes from a client, and one whose idempotent id was
// already known (nothing added) with the id "*". The target gets the first
// as a plain XADD, with the producer's record by XIDMPRECORD where it has
// one; the second as it is where the target knows the id, else nothing, as
// the source added nothing. IDMPAUTO's id, which the source computes from
// the fields and does not propagate, is computed here as the source does
// (idmpAutoIID). Where the id cannot be recorded (a target without IDMP or
// without XIDMPRECORD), the entry goes by on-unholdable-idmp: a stop, a
// plain XADD (convert), or nothing (skip).
func (t *Translator) xaddIDMP(c *call) error {
	s := parseStreamArgs(c.args, true)
	o, _ := s.find(optIDMP)
	idmp := c.args[o.at : o.at+o.n]
	id := c.args[s.id]
	record := t.caps.IDMPRecord()
	if string(id) == "*" {
		// A duplicate: the source added nothing but counted it. A target
		// that knows the id (recorded, or every id so far was carried:
		// on-unholdable-idmp = stop) counts it too, as a native replica
		// does; elsewhere it would add the entry.
		if t.caps.StreamIDMP() && (record || t.opt.Unholdable.Policy.Action(unholdable.IDMP) == unholdable.Stop) {
			return t.pass(c)
		}
		return nil
	}
	if !record {
		a, err := t.unholdable(c, unholdable.IDMP, "idempotent ids of XADD "+upper(string(idmp[0])))
		if err != nil || a == unholdable.Skip {
			return err
		}
	}
	if err := t.again(c, s.without(optIDMP)); err != nil {
		return err
	}
	if record {
		iid := idmp[len(idmp)-1] // IDMP p iid
		if len(idmp) == 2 {      // IDMPAUTO p
			iid = idmpAutoIID(s.args[s.id+1:]) // s.args: c.args is the rewrite now
		}
		t.emit(c, word("XIDMPRECORD"), c.args[1], idmp[1], iid, id)
	}
	return nil
}

// idmpState: XIDMPRECORD records an idempotent id, which a target without
// it cannot hold; skip and convert drop it.
func idmpState(t *Translator, c *call) error {
	_, err := t.unholdable(c, unholdable.IDMP, "stream idempotent ids")
	return err
}

// minID rewrites XADD/XTRIM … MINID [=|~] id for targets before 6.2: the
// XADD without its trim, then a script that deletes the entries before id.
func (t *Translator) minID(c *call) error {
	s := parseStreamArgs(c.args, c.name == "xadd")
	min := s.threshold()
	if c.name == "xadd" {
		if err := t.again(c, s.without(optTrim, optLimit)); err != nil {
			return err
		}
	}
	t.emit(c, word("EVAL"), word(minIDScript), word("1"), c.args[1], min)
	return nil
}

// xgroupEntriesRead drops ENTRIESREAD n before 7.0.
func (t *Translator) xgroupEntriesRead(c *call) error {
	args := append([][]byte{}, c.args[:5]...)
	t.emit(c, appendStripped(args, c.args[5:], "entriesread")...)
	return nil
}
