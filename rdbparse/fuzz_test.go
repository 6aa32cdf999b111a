package rdbparse

import (
	"bytes"
	"errors"
	"runtime"
	"strconv"
	"strings"
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

// FuzzCompareHdt: both decoders must agree on every input. When both accept
// it, they must see the same keys and values; when only one accepts it, that
// is reported too, except where the other is documented to be unable to
// judge (hdtCannotJudge).
func FuzzCompareHdt(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		m, ourErr := decodeModel(data, Options{SkipChecksum: true}) // hdt3213 ignores it: explore past it
		if ourErr != nil && (!lacksFeature(ourErr) || !endsWithEOF(data)) {
			// rdbparse found the input damaged, cut short or followed by
			// garbage. hdt3213 is not asked: it trusts declared lengths (a
			// corrupt one makes it allocate gigabytes), takes a file cut
			// short for whole and stops reading at the EOF opcode.
			return
		}
		hm, hdtErr := hdtModel(data)
		switch {
		case ourErr == nil && hdtErr == nil:
			if err := compareModels(m, hm); err != nil {
				t.Fatal(err)
			}
		case ourErr == nil:
			if why := hdtCannotJudge(data, hdtErr); why == "" {
				t.Fatalf("rdbparse accepts the input, hdt3213 refuses it: %v", hdtErr)
			}
		case hdtErr == nil:
			if why := hdtCannotJudge(data, nil); why == "" {
				t.Fatalf("hdt3213 accepts the input, rdbparse refuses it: %v", ourErr)
			}
		}
	})
}

// hdtCannotJudge says why hdt3213/rdb v1.3.2 is no second opinion on data,
// or "": it knows RDB 1–12 but not every opcode and type of RDB 12 (Redis
// 7.4+ key metadata, hash field TTL encodings), nor RDB 13 or Valkey's
// format, and it crashes on some inputs. hdtErr is its refusal, if it refused.
func hdtCannotJudge(data []byte, hdtErr error) string {
	if hdtErr != nil {
		msg := hdtErr.Error()
		switch {
		case strings.Contains(msg, "unsupported") || strings.Contains(msg, "unknown"):
			return "hdt3213 does not know a part of the format: " + msg
		case strings.HasPrefix(msg, "panic"):
			return "hdt3213 crashed (its bug, not a verdict): " + msg
		}
	}
	if len(data) < 9 {
		return "shorter than an RDB header"
	}
	if string(data[:6]) == "VALKEY" {
		return "a Valkey RDB"
	}
	v, err := strconv.Atoi(string(data[5:9]))
	if err != nil || string(data[:5]) != "REDIS" {
		return ""
	}
	if v > 12 {
		return "RDB version above 12"
	}
	return ""
}

// lacksFeature: rdbparse refused the input for not knowing its RDB version,
// which hdt3213 might know: a disagreement worth reporting. rdbparse knows
// every value type and encoding of RDB 1–13; where it refuses a type that is
// newer than the file's version, or a bad encoding or length, it refuses
// damaged input on purpose, which hdt3213 often reads past without noticing.
func lacksFeature(err error) bool {
	return errors.Is(err, ErrUnsupportedVersion)
}

// endsWithEOF reports whether data ends with the EOF opcode (and, from RDB 5
// on, its 8-byte checksum): hdt3213 accepts an input that stops anywhere
// before, so only such whole files can show a disagreement.
func endsWithEOF(data []byte) bool {
	if len(data) < 10 {
		return false
	}
	v, _ := strconv.Atoi(string(data[5:9]))
	if v >= 5 || string(data[:6]) == "VALKEY" {
		return data[len(data)-9] == 0xff
	}
	return data[len(data)-1] == 0xff
}
