package transform

import (
	"strconv"

	"github.com/redferry/redferry/pkg/server"
)

func zsetRows() []translation {
	return []translation{
		{command: "zadd", form: "ZADD k [NX|XX] GT|LT [CH] [INCR] score member …", from: "Redis 6.2+, Valkey (as is, whether or not a score changed)",
			takes: "Redis 6.2+, Valkey", into: "an EVAL that compares each member's score and ZADDs (ZINCRBY with INCR) where the condition holds",
			match:   func(a [][]byte) bool { return zaddHasGTLT(a) },
			accepts: server.Info.ZSetStore,
			rewrite: func(t *Translator, c *call) error { return t.script(c, zaddGTLTScript, 1) }},
		{command: "zrangestore", form: "ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT o n]", from: "Redis 6.2+, Valkey",
			takes: "Redis 6.2+, Valkey", into: "an EVAL: ZRANGE/ZREVRANGE/ZRANGEBYSCORE/ZRANGEBYLEX … of src, DEL dst, ZADD dst (into a cluster with dst and src in different slots: run in dst's slot on a copy of src)",
			accepts: server.Info.ZSetStore,
			rewrite: func(t *Translator, c *call) error {
				if len(c.args) < 3 {
					return t.pass(c)
				}
				return t.script(c, t.storeScript(zrangeStoreScript, c.args[1], c.args[2]), 2)
			}},
		{command: "zdiffstore", form: "ZDIFFSTORE dst n k …", from: "Redis 6.2+, Valkey",
			takes: "Redis 6.2+, Valkey", into: "an EVAL: the members of the first key in none of the others, DEL dst, ZADD dst (into a cluster with the keys in different slots: run in dst's slot on copies of the others)",
			accepts: server.Info.ZSetStore, rewrite: (*Translator).zdiffstore},
	}
}

// zaddHasGTLT: ZADD key's flags before the first score include GT or LT.
func zaddHasGTLT(a [][]byte) bool {
	for i := 2; i < len(a); i++ {
		switch {
		case isAny(a[i], "gt", "lt"):
			return true
		case !isAny(a[i], "nx", "xx", "ch", "incr"):
			return false
		}
	}
	return false
}

// script sends the command's arguments to a script: the first nkeys after
// the name as KEYS, the rest as ARGV.
func (t *Translator) script(c *call, script string, nkeys int) error {
	if len(c.args) < 1+nkeys {
		return t.pass(c)
	}
	args := append([][]byte{word("EVAL"), word(script), strconv.AppendInt(nil, int64(nkeys), 10)}, c.args[1:]...)
	t.emit(c, args...)
	return nil
}

// zdiffstore sends ZDIFFSTORE dst numkeys key… to its script with every key
// in KEYS.
func (t *Translator) zdiffstore(c *call) error {
	if len(c.args) < 4 {
		return t.pass(c)
	}
	n, err := strconv.Atoi(string(c.args[2]))
	if err != nil || n < 1 || 3+n != len(c.args) {
		return t.pass(c)
	}
	script := t.storeScript(zdiffStoreScript, append([][]byte{c.args[1]}, c.args[3:]...)...)
	args := append([][]byte{word("EVAL"), word(script), strconv.AppendInt(nil, int64(n+1), 10), c.args[1]}, c.args[3:]...)
	t.emit(c, args...)
	return nil
}
