package transform

import (
	"bytes"
	"strconv"

	"github.com/redferry/redferry/pkg/server"
	"github.com/redferry/redferry/sink"
)

// What masters propagate, and what older targets refuse. Captured with
// `redis-cli --replica` against Redis 7.0.15, 8.0.2 and Valkey 9.1.2, and
// checked against a Redis 6.0.16 target:
//
//	source command               propagated as                                   6.0 target          translation (< needed version)
//	SET k v EX/PX n, SETEX       SET k v PXAT ms                                 rejects PXAT        SET k v + PEXPIREAT k ms (< 6.2)
//	SET k v GET                  SET k v                                         rejects GET         drop GET (< 6.2)
//	SET k v KEEPTTL, INCRBYFLOAT SET k v KEEPTTL                                 accepts             —
//	GETEX k PX n, EXPIRE…        PEXPIREAT k ms                                  accepts             —
//	GETDEL k                     DEL k                                           accepts             (GETDEL → DEL if seen raw)
//	LMOVE / BLMOVE               LMOVE src dst FROM TO                           unknown command     RPOPLPUSH (RIGHT LEFT) or an EVAL pop+push (< 6.2)
//	XREADGROUP, XAUTOCLAIM       XCLAIM … TIME ms RETRYCOUNT n FORCE JUSTID LASTID id  accepts       —
//	                             (8.0/Valkey 9: in MULTI with XGROUP SETID … ENTRIESREAD n)
//	XCLAIM of a deleted entry    7.0+: the same XCLAIM, which drops it from the PEL  keeps it   EVAL: XACK the deleted ids, XCLAIM the rest (source 7.0+, target < 7.0)
//	XGROUP CREATE/SETID … ENTRIESREAD n  as is                                   syntax error        drop ENTRIESREAD n (< 7.0)
//	XSETID … ENTRIESADDED/MAXDELETEDID   as is                                   syntax error        drop both options (< 7.0)
//	XGROUP CREATECONSUMER        as is                                           unknown subcommand  XREADGROUP … STREAMS k 18446744073709551615-0 (< 6.2)
//	SPOP                         SREM k member                                   accepts             —
//	EVAL, FCALL                  their effects (INCR → "incr"), in MULTI/EXEC     accepts             — (MULTI/EXEC dropped)
//	FUNCTION LOAD/DELETE/…       as is                                           unknown command     ErrUnsupported (< 7.0)
//	HEXPIRE/HPEXPIRE/HEXPIREAT   HPEXPIREAT k ms FIELDS n f…                     unknown command     ErrUnsupported (no hash field TTL)
//	HPERSIST                     as is                                           unknown command     ErrUnsupported
//	HSETEX k EX n FIELDS…        HSETEX k PXAT ms FIELDS …                       unknown command     ErrUnsupported (Redis < 8.0, Valkey < 9.0)
//	HGETEX k PX n FIELDS…        HPEXPIREAT k ms FIELDS …                        unknown command     ErrUnsupported (as HPEXPIREAT)
//	HGETDEL k FIELDS n f…        Redis 8: HDEL k f…; Valkey 9.1: HGETDEL as is   unknown command     HDEL k f… (when the target lacks HGETDEL)
//	PUBLISH                      as is                                           accepts             dropped unless ReplayPublish
//	PING, REPLCONF GETACK        as is                                           —                   dropped
//	MULTI, EXEC                  as is                                           —                   dropped (every batch is one MULTI)

// TranslateOptions tune the Translator.
type TranslateOptions struct {
	ReplayPublish bool // replay PUBLISH/SPUBLISH on the target (default: drop them)
	// Source is what the source server is (zero: unknown). Some commands
	// mean different things on different versions: a 7.0+ source sends
	// XCLAIM of a deleted entry to drop it from the PEL, which 6.x keeps.
	Source server.Info
}

// Translator rewrites commands of the live stream for the target's version.
type Translator struct {
	caps server.Info
	opt  TranslateOptions
	args [][]byte // scratch for rewritten commands
}

// NewTranslator returns a Translator for a target with caps.
func NewTranslator(caps server.Info, opt TranslateOptions) *Translator {
	return &Translator{caps: caps, opt: opt}
}

// Translate appends the command to b: raw (its exact RESP bytes, may be nil)
// when no rewrite is needed, else its equivalent. It drops PING, REPLCONF,
// MULTI, EXEC and, unless ReplayPublish, PUBLISH; the caller keeps a source
// transaction within one batch, which the sink applies in one MULTI. Unknown
// commands pass through for the target to judge. A command the target has no
// equivalent for gives an error wrapping ErrUnsupported.
func (t *Translator) Translate(args [][]byte, raw []byte, offset int64, b *sink.Batch) error {
	if len(args) == 0 {
		return nil
	}
	var nameBuf [24]byte
	name := lower(nameBuf[:0], args[0])
	switch string(name) {
	case "ping", "replconf", "multi", "exec":
		return nil
	case "publish", "spublish":
		if !t.opt.ReplayPublish {
			return nil
		}
	case "set":
		if !t.caps.SetPXAT() {
			return t.set(args, raw, offset, b)
		}
	case "getdel":
		if !t.caps.GetEx() && len(args) == 2 {
			b.Add(offset, []byte("DEL"), args[1])
			return nil
		}
	case "lmove", "blmove":
		if !t.caps.LMove() {
			return t.lmove(args, raw, offset, b)
		}
	case "xgroup":
		return t.xgroup(args, raw, offset, b)
	case "xclaim":
		if t.opt.Source.StreamV2() && !t.caps.StreamV2() && len(args) >= 6 {
			t.args = append(t.args[:0], []byte("EVAL"), []byte(xclaimScript), []byte("1"), args[1])
			t.args = append(t.args, args[2:]...)
			b.Add(offset, t.args...)
			return nil
		}
	case "xsetid":
		if !t.caps.StreamV2() {
			t.args = append(t.args[:0], args[:min(3, len(args))]...)
			t.args = appendStripped(t.args, args[min(3, len(args)):], "entriesadded", "maxdeletedid")
			b.Add(offset, t.args...)
			return nil
		}
	case "function", "fcall", "fcall_ro":
		if !t.caps.Functions() {
			return unsupported(string(bytes.ToUpper(name))+" (functions) on "+t.caps.String(), nil, offset)
		}
	case "hexpire", "hpexpire", "hexpireat", "hpexpireat", "hpersist", "httl", "hpttl":
		if !t.caps.HashFieldTTL() {
			return unsupported(string(bytes.ToUpper(name))+" (hash field TTL) on "+t.caps.String(), key(args), offset)
		}
	case "hsetex", "hgetex":
		if !t.caps.HSetEx() {
			return unsupported(string(bytes.ToUpper(name))+" (hash field TTL) on "+t.caps.String(), key(args), offset)
		}
	case "hgetdel":
		if !t.caps.HSetEx() {
			return t.hgetdel(args, raw, offset, b)
		}
	}
	t.pass(args, raw, offset, b)
	return nil
}

func (t *Translator) pass(args [][]byte, raw []byte, offset int64, b *sink.Batch) {
	if raw != nil {
		b.AddRaw(offset, raw)
	} else {
		b.Add(offset, args...)
	}
}

func key(args [][]byte) []byte {
	if len(args) > 1 {
		return args[1]
	}
	return nil
}

func lower(dst, s []byte) []byte {
	for _, c := range s {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

func is(a []byte, lowerName string) bool { return bytes.EqualFold(a, []byte(lowerName)) }

// appendStripped appends args without the named options and their value.
func appendStripped(dst, args [][]byte, opts ...string) [][]byte {
	for i := 0; i < len(args); i++ {
		strip := false
		for _, o := range opts {
			if is(args[i], o) {
				strip = true
			}
		}
		if strip {
			i++ // the option's value
			continue
		}
		dst = append(dst, args[i])
	}
	return dst
}

// setScript is SET with a condition and an absolute expiry, for targets
// without PXAT: the expiry applies only if the SET did.
const setScript = "if redis.call('set', KEYS[1], ARGV[1], ARGV[2]) then return redis.call('pexpireat', KEYS[1], ARGV[3]) end return false"

// set rewrites SET … [GET] [EXAT s|PXAT ms] for targets before 6.2.
func (t *Translator) set(args [][]byte, raw []byte, offset int64, b *sink.Batch) error {
	if len(args) < 3 {
		t.pass(args, raw, offset, b)
		return nil
	}
	t.args = append(t.args[:0], args[:3]...)
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
			t.args = append(t.args, a)
		case (is(a, "exat") || is(a, "pxat")) && i+1 < len(args):
			n, err := strconv.ParseInt(string(args[i+1]), 10, 64)
			if err != nil {
				t.pass(args, raw, offset, b) // the target reports the syntax error
				return nil
			}
			if is(a, "exat") {
				n *= 1000
			}
			at, rewrite = n, true
			i++
		default:
			t.args = append(t.args, a)
		}
	}
	if !rewrite {
		t.pass(args, raw, offset, b)
		return nil
	}
	if at < 0 {
		b.Add(offset, t.args...)
		return nil
	}
	ms := strconv.AppendInt(nil, at, 10)
	if cond == nil && len(t.args) == 3 {
		b.Add(offset, t.args...)
		b.Add(offset, []byte("PEXPIREAT"), args[1], ms)
		return nil
	}
	if len(t.args) != 4 || cond == nil {
		t.pass(args, raw, offset, b) // an option combination the target judges
		return nil
	}
	b.Add(offset, []byte("EVAL"), []byte(setScript), []byte("1"), args[1], args[2], cond, ms)
	return nil
}

// lmoveScript pops from one end of KEYS[1] and pushes to one end of KEYS[2].
// xclaimScript gives XCLAIM key group consumer min-idle id… [options] the
// meaning of Redis 7.0+ on an older target: ids whose entry was deleted
// leave the PEL (XACK) instead of moving to the consumer.
const xclaimScript = "local ids, i = {}, 4 " +
	"while i <= #ARGV and string.match(ARGV[i], '^%d+%-?%d*$') do " +
	"if #redis.call('XRANGE', KEYS[1], ARGV[i], ARGV[i]) == 0 then redis.call('XACK', KEYS[1], ARGV[1], ARGV[i]) " +
	"else ids[#ids+1] = ARGV[i] end i = i + 1 end " +
	"if #ids == 0 then return {} end " +
	"local args = {'XCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3]} " +
	"for _, id in ipairs(ids) do args[#args+1] = id end " +
	"for j = i, #ARGV do args[#args+1] = ARGV[j] end " +
	"return redis.call(unpack(args))"

const lmoveScript = "local v = redis.call(ARGV[1] == 'LEFT' and 'LPOP' or 'RPOP', KEYS[1]) " +
	"if v then redis.call(ARGV[2] == 'LEFT' and 'LPUSH' or 'RPUSH', KEYS[2], v) end return v"

// lmove rewrites LMOVE/BLMOVE src dst from to [timeout] for targets before 6.2.
func (t *Translator) lmove(args [][]byte, raw []byte, offset int64, b *sink.Batch) error {
	if len(args) < 5 {
		t.pass(args, raw, offset, b)
		return nil
	}
	from, to := side(args[3]), side(args[4])
	if from == "" || to == "" {
		t.pass(args, raw, offset, b)
		return nil
	}
	if from == "RIGHT" && to == "LEFT" {
		b.Add(offset, []byte("RPOPLPUSH"), args[1], args[2])
		return nil
	}
	b.Add(offset, []byte("EVAL"), []byte(lmoveScript), []byte("2"), args[1], args[2], []byte(from), []byte(to))
	return nil
}

func side(a []byte) string {
	switch {
	case is(a, "left"):
		return "LEFT"
	case is(a, "right"):
		return "RIGHT"
	}
	return ""
}

// xgroup drops ENTRIESREAD before 7.0 and emulates CREATECONSUMER before 6.2.
func (t *Translator) xgroup(args [][]byte, raw []byte, offset int64, b *sink.Batch) error {
	if len(args) < 2 {
		t.pass(args, raw, offset, b)
		return nil
	}
	sub := args[1]
	switch {
	case (is(sub, "create") || is(sub, "setid")) && !t.caps.StreamV2() && len(args) > 5:
		t.args = append(t.args[:0], args[:5]...)
		t.args = appendStripped(t.args, args[5:], "entriesread")
		b.Add(offset, t.args...)
		return nil
	case is(sub, "createconsumer") && !t.caps.CreateConsumer() && len(args) == 5:
		b.Add(offset, createConsumer(t.caps, args[2], args[3], args[4])...)
		return nil
	}
	t.pass(args, raw, offset, b)
	return nil
}

// hgetdel turns HGETDEL key FIELDS n f… into HDEL key f….
func (t *Translator) hgetdel(args [][]byte, raw []byte, offset int64, b *sink.Batch) error {
	if len(args) < 5 || !is(args[2], "fields") {
		t.pass(args, raw, offset, b)
		return nil
	}
	t.args = append(t.args[:0], []byte("HDEL"), args[1])
	t.args = append(t.args, args[4:]...)
	b.Add(offset, t.args...)
	return nil
}
