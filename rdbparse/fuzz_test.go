package rdbparse

import (
	"bytes"
	"runtime"
	"testing"
)

func addSeeds(f *testing.F) {
	fx := fixtures(f)
	for _, name := range sortedNames(fx) {
		if len(fx[name]) <= 8<<10 { // small seeds keep minimization quick
			f.Add(fx[name])
		}
	}
	// Files Redis loads though no server of ours writes them so.
	data, _ := metadataBeforeAuxRDB()
	f.Add(data)
	f.Add(preGAFunctionRDB())
	for _, data := range emptyKeysRDBs() {
		f.Add(data)
	}
}

// FuzzDecode: any input decodes or fails with an error; no panic, and the
// memory allocated stays proportional to the input, whatever its length
// fields claim.
func FuzzDecode(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			return
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for _, opt := range []Options{{}, {MaxChunk: 5, SkipChecksum: true, CaptureRaw: 1 << 10}} {
			d := NewDecoder(bytes.NewReader(data), opt)
			c := newCollector(max(opt.MaxChunk, defaultMaxChunk))
			c.allowDup = true
			c.m.Keys = nil // keep nothing: only the event grammar is checked
			err := d.Decode(func(ev *Event) error {
				if ev.Kind == KindString && len(ev.Value) > d.opt.MaxChunk {
					t.Fatalf("piece of %d bytes", len(ev.Value))
				}
				if err := c.handle(ev); err != nil {
					t.Fatalf("event grammar: %v", err)
				}
				return nil
			})
			if err == nil && d.Offset() > int64(len(data)) {
				t.Fatalf("offset %d past %d bytes", d.Offset(), len(data))
			}
		}
		runtime.ReadMemStats(&after)
		// Reads grow by at most 1 MiB beyond the bytes that arrived; LZF
		// output is at most lzfMaxRatio times the compressed input.
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20+uint64(len(data))*(2*lzfMaxRatio+64) {
			t.Fatalf("allocated %d bytes for %d bytes of input", grew, len(data))
		}
	})
}

// FuzzCompareHdt: when rdbparse accepts an input, hdt3213/rdb (if it
// accepts it too) must see the same keys and values.
func FuzzCompareHdt(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decodeModel(data, Options{SkipChecksum: true}) // hdt3213 ignores it: explore past it
		if err != nil {
			return
		}
		hm, err := hdtModel(data)
		if err != nil {
			return
		}
		if err := compareModels(m, hm); err != nil {
			t.Fatal(err)
		}
	})
}
