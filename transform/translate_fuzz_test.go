package transform

import (
	"strings"
	"testing"

	"github.com/redferry/redferry/pkg/server"
	"github.com/redferry/redferry/sink"
)

// FuzzTranslate: no command, however malformed, makes the translator panic
// or loop; it passes, rewrites or refuses it.
func FuzzTranslate(f *testing.F) {
	for _, r := range translationTable() {
		f.Add(strings.NewReplacer("…", "x", "|", " ", "[", "", "]", "").Replace(r.form))
	}
	f.Add("XADD k IDMP p i MAXLEN = 1 LIMIT 2 KEEPREF 1-1 a b")
	f.Add("XTRIM k DELREF")
	f.Add("MSETEX 3 a b")
	f.Add("RESTORE k 0 \x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a")
	targets := []server.Info{caps60, caps70, caps80, caps86, capsV8, capsV9}
	f.Fuzz(func(t *testing.T, cmd string) {
		args := words(cmd)
		if len(args) == 0 || len(args) > 64 {
			return
		}
		for _, caps := range targets {
			var b sink.Batch
			_ = NewTranslator(caps, TranslateOptions{Source: caps86}).Translate(args, nil, 1, &b)
		}
	})
}
