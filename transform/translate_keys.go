package transform

import "github.com/redferry/redferry/pkg/server"

func keyRows() []translation {
	var rows []translation
	for _, name := range []string{"expire", "pexpire", "expireat", "pexpireat"} {
		rows = append(rows, translation{command: name, form: upper(name) + " k t NX|XX|GT|LT",
			from:  "Redis 7.0+, Valkey (any of them as PEXPIREAT k ms NX|XX|GT|LT)",
			takes: "Redis 7.0+, Valkey", into: "the condition dropped (propagated only when it held)",
			match:   func(a [][]byte) bool { return hasFlag(a, 3, "nx", "xx", "gt", "lt") },
			accepts: server.Info.ExpireConditions,
			rewrite: func(t *Translator, c *call) error {
				return t.again(c, withoutFlags(c.args, 3, "nx", "xx", "gt", "lt"))
			}})
	}
	for _, name := range []string{"flushdb", "flushall"} {
		rows = append(rows, translation{command: name, form: upper(name) + " SYNC", from: "Redis 6.2+, Valkey",
			takes: "Redis 6.2+, Valkey", into: upper(name) + " (synchronous there)",
			match:   func(a [][]byte) bool { return hasFlag(a, 1, "sync") },
			accepts: server.Info.FlushSync,
			rewrite: func(t *Translator, c *call) error { return t.again(c, withoutFlags(c.args, 1, "sync")) }})
	}
	return rows
}
