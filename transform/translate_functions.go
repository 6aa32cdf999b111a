package transform

import "github.com/redferry/redferry/pkg/server"

func functionRows() []translation {
	var rows []translation
	for _, name := range []string{"function", "fcall", "fcall_ro"} {
		rows = append(rows, translation{command: name, form: upper(name) + " …",
			from:  "Redis 7.0+, Valkey (FCALL as its effects)",
			takes: "Redis 7.0+, Valkey", into: "error: functions",
			accepts: server.Info.Functions, rewrite: func(t *Translator, c *call) error { return t.fail(c, "functions") }})
	}
	return rows
}
