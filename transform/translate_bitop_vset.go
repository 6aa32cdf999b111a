package transform

import (
	"github.com/redferry/redferry/pkg/server"
	"github.com/redferry/redferry/pkg/unholdable"
)

func bitopVectorRows() []translation {
	rows := []translation{
		{command: "bitop", form: "BITOP DIFF|DIFF1|ANDOR|ONE dst k …", from: "Redis 8.6",
			takes: "Redis 8.2+", into: "an EVAL that computes the result byte by byte (Lua's bit library) and SETs it, or DELs dst when every input is empty (into a cluster with the keys in different slots: run in dst's slot on copies of the others)",
			match:   func(a [][]byte) bool { return len(a) >= 4 && isAny(a[1], "diff", "diff1", "andor", "one") },
			accepts: server.Info.BitopV2,
			rewrite: func(t *Translator, c *call) error {
				args := append([][]byte{word("EVAL"), word(t.storeScript(bitopScript, c.args[2:]...))}, itoa(len(c.args)-2))
				args = append(args, c.args[2:]...)
				t.emit(c, append(args, c.args[1])...)
				return nil
			}},
	}
	for _, name := range []string{"vadd", "vrem", "vsetattr"} {
		rows = append(rows, translation{command: name, form: upper(name) + " k …", from: "Redis 8.0+",
			takes: "Redis 8.0+", into: "on-unholdable-module: stop (default), or skip: dropped",
			accepts: server.Info.VectorSets, rewrite: func(t *Translator, c *call) error {
				_, err := t.unholdable(c, unholdable.Module, "vector sets")
				return err // skip: dropped
			}})
	}
	return rows
}

// bitopScript is BITOP ARGV[1] KEYS[1] KEYS[2…] for the operations of Redis
// 8.2: DIFF (X and not any Y), DIFF1 (not X and any Y), ANDOR (X and any Y),
// ONE (bits set in exactly one key). Missing keys are empty strings; the
// result is as long as the longest input, and an empty result deletes dst.
const bitopScript = "local op, vals, n = string.upper(ARGV[1]), {}, 0 " +
	"for i = 2, #KEYS do local v = redis.call('GET', KEYS[i]) or '' vals[#vals + 1] = v if #v > n then n = #v end end " +
	"if n == 0 then redis.call('DEL', KEYS[1]) return 0 end " +
	"local out, buf = {}, {} for p = 1, n do local r " +
	"if op == 'ONE' then local one, many = 0, 0 for _, v in ipairs(vals) do local x = string.byte(v, p) or 0 " +
	"many = bit.bor(many, bit.band(one, x)) one = bit.band(bit.bxor(one, x), bit.bnot(many)) end r = bit.band(one, bit.bnot(many)) " +
	"else local x, y = string.byte(vals[1], p) or 0, 0 for j = 2, #vals do y = bit.bor(y, string.byte(vals[j], p) or 0) end " +
	"if op == 'DIFF' then r = bit.band(x, bit.bnot(y)) elseif op == 'DIFF1' then r = bit.band(bit.bnot(x), y) else r = bit.band(x, y) end end " +
	"buf[#buf + 1] = bit.band(r, 255) if #buf == 4096 then out[#out + 1] = string.char(unpack(buf)) buf = {} end end " +
	"if #buf > 0 then out[#out + 1] = string.char(unpack(buf)) end " +
	"redis.call('SET', KEYS[1], table.concat(out)) return n"
