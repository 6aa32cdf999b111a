package transform

import (
	"testing"

	"github.com/redferry/redferry/protocol"
	"github.com/redferry/redferry/sink"
)

// BenchmarkTranslatePass: the common case, a command the target takes as
// it is, costs no allocation.
func BenchmarkTranslatePass(b *testing.B) {
	for _, cmd := range []string{"SET k v", "XADD s MAXLEN = 10 1-1 f v", "HSET h f v", "INCR n"} {
		b.Run(cmd, func(b *testing.B) {
			args := words(cmd)
			raw := protocol.AppendCommand(nil, args...)
			tr := NewTranslator(caps86, TranslateOptions{Source: caps86})
			var batch sink.Batch
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if batch.Len() > 1000 {
					batch.Reset()
				}
				if err := tr.Translate(args, raw, 1, &batch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestTranslatePassAllocs: a command the target takes as it is (the bulk of
// any stream) costs the translator no allocation.
func TestTranslatePassAllocs(t *testing.T) {
	for _, cmd := range []string{"SET k v", "XADD s MAXLEN = 10 1-1 f v", "HSET h f v", "EXPIRE k 10"} {
		args := words(cmd)
		raw := protocol.AppendCommand(nil, args...)
		tr := NewTranslator(caps86, TranslateOptions{Source: caps86})
		var batch sink.Batch
		allocs := testing.AllocsPerRun(200, func() {
			batch.Reset()
			if err := tr.Translate(args, raw, 1, &batch); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%q: %v allocations per command, want 0", cmd, allocs)
		}
	}
}
