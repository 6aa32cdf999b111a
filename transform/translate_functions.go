package transform

import (
	"github.com/redferry/redferry/pkg/server"
	"github.com/redferry/redferry/pkg/unholdable"
)

func functionRows() []translation {
	var rows []translation
	for _, name := range []string{"function", "fcall", "fcall_ro"} {
		rows = append(rows, translation{command: name, form: upper(name) + " …",
			from:  "Redis 7.0+, Valkey (FCALL as its effects)",
			takes: "Redis 7.0+, Valkey", into: "on-unholdable-functions: stop (default), or skip: dropped",
			accepts: server.Info.Functions, rewrite: func(t *Translator, c *call) error {
				_, err := t.unholdable(c, unholdable.Functions, "functions")
				return err // skip: dropped
			}})
	}
	return rows
}
