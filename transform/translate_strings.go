package transform

import (
	"strconv"

	"github.com/redferry/redferry/pkg/server"
)

func stringRows() []translation {
	return []translation{
		{command: "set", form: "SET k v IFEQ old …", from: "Valkey 8.1+, Redis 8.6",
			takes: "Valkey 8.1+, Redis 8.4+", into: "SET k v … (propagated only when the condition held)",
			match:   func(a [][]byte) bool { return hasFlag(a, 3, "ifeq") },
			accepts: server.Info.SetIfEq, rewrite: stripValueOptions("ifeq")},
		{command: "set", form: "SET k v IFNE|IFDEQ|IFDNE x …", from: "Redis 8.6",
			takes: "Redis 8.4+", into: "SET k v … (propagated only when the condition held)",
			match:   func(a [][]byte) bool { return hasFlag(a, 3, "ifne", "ifdeq", "ifdne") },
			accepts: server.Info.SetIfDigest, rewrite: stripValueOptions("ifne", "ifdeq", "ifdne")},
		{command: "set", form: "SET k v [NX|XX] [GET] [PXAT ms]", from: "Redis 6.2+, Valkey (EX/PX/EXAT as PXAT)",
			takes: "Redis 6.2+, Valkey", into: "GET dropped; PXAT: SET k v + PEXPIREAT k ms, or with NX/XX an EVAL",
			match:   func(a [][]byte) bool { return hasFlag(a, 3, "get", "exat", "pxat") },
			accepts: server.Info.SetPXAT, rewrite: (*Translator).set},
		{command: "getdel", form: "GETDEL k", from: "none (propagated as DEL)", takes: "Redis 6.2+, Valkey", into: "DEL k",
			accepts: server.Info.GetEx,
			rewrite: func(t *Translator, c *call) error {
				if len(c.args) != 2 {
					return t.pass(c)
				}
				t.emit(c, word("DEL"), c.args[1])
				return nil
			}},
		{command: "msetex", form: "MSETEX n k v … [NX|XX] [PXAT ms|EXAT s|KEEPTTL]", from: "Redis 8.6, Valkey 9.1",
			takes: "Redis 8.4+, Valkey 9.1+", into: "SET k v [KEEPTTL] per key, + PEXPIREAT k ms (NX/XX: propagated only when they held)",
			accepts: server.Info.MSetEx, rewrite: (*Translator).msetex},
	}
}

// stripValueOptions drops the named options and their value: conditions a
// source propagates only when they held, so the target needs no check.
func stripValueOptions(names ...string) func(t *Translator, c *call) error {
	return func(t *Translator, c *call) error {
		if len(c.args) < 3 {
			return t.pass(c)
		}
		args := append([][]byte{}, c.args[:3]...)
		return t.again(c, appendStripped(args, c.args[3:], names...))
	}
}

// setScript is SET with a condition and an absolute expiry, for targets
// without PXAT: the expiry applies only if the SET did.
const setScript = "if redis.call('set', KEYS[1], ARGV[1], ARGV[2]) then return redis.call('pexpireat', KEYS[1], ARGV[3]) end return false"

// set rewrites SET … [GET] [EXAT s|PXAT ms] for targets before 6.2.
func (t *Translator) set(c *call) error {
	args := c.args
	if len(args) < 3 {
		return t.pass(c)
	}
	out := append([][]byte{}, args[:3]...)
	var cond []byte
	var at int64 = -1
	rewrite := false
	for i := 3; i < len(args); i++ {
		a := args[i]
		switch {
		case is(a, "get"):
			rewrite = true
		case is(a, "nx"), is(a, "xx"):
			cond = a
			out = append(out, a)
		case (is(a, "exat") || is(a, "pxat")) && i+1 < len(args):
			n, err := strconv.ParseInt(string(args[i+1]), 10, 64)
			if err != nil {
				return t.pass(c) // the target reports the syntax error
			}
			if is(a, "exat") {
				n *= 1000
			}
			at, rewrite = n, true
			i++
		default:
			out = append(out, a)
		}
	}
	if !rewrite {
		return t.pass(c)
	}
	if at < 0 {
		t.emit(c, out...)
		return nil
	}
	ms := strconv.AppendInt(nil, at, 10)
	if cond == nil && len(out) == 3 {
		t.emit(c, out...)
		t.emit(c, word("PEXPIREAT"), args[1], ms)
		return nil
	}
	if len(out) != 4 || cond == nil {
		return t.pass(c) // an option combination the target judges
	}
	t.emit(c, word("EVAL"), word(setScript), word("1"), args[1], args[2], cond, ms)
	return nil
}

// msetex rewrites MSETEX numkeys k v … [NX|XX] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL]
// as one SET per key: the source propagates it only when NX/XX held for
// every key, and with an absolute expiry.
func (t *Translator) msetex(c *call) error {
	args := c.args
	if len(args) < 2 {
		return t.pass(c)
	}
	n, err := strconv.Atoi(string(args[1]))
	if err != nil || n < 1 || 2+2*n > len(args) {
		return t.pass(c) // the target reports the syntax error
	}
	var at int64 = -1 // absolute expiry, ms
	rel := -1         // index of EX/PX, kept as is
	var keepTTL bool
	for i := 2 + 2*n; i < len(args); i++ {
		a := args[i]
		switch {
		case isAny(a, "nx", "xx"):
		case is(a, "keepttl"):
			keepTTL = true
		case isAny(a, "ex", "px") && i+1 < len(args):
			rel = i
			i++
		case isAny(a, "exat", "pxat") && i+1 < len(args):
			v, err := strconv.ParseInt(string(args[i+1]), 10, 64)
			if err != nil {
				return t.pass(c)
			}
			if is(a, "exat") {
				v *= 1000
			}
			at = v
			i++
		default:
			return t.pass(c) // an option this table does not know: the target judges
		}
	}
	for i := 2; i < 2+2*n; i += 2 {
		k, v := args[i], args[i+1]
		switch {
		case keepTTL:
			t.emit(c, word("SET"), k, v, word("KEEPTTL"))
		case rel >= 0:
			t.emit(c, word("SET"), k, v, args[rel], args[rel+1])
		default:
			t.emit(c, word("SET"), k, v)
		}
		if at >= 0 {
			t.emit(c, word("PEXPIREAT"), k, strconv.AppendInt(nil, at, 10))
		}
	}
	return nil
}
