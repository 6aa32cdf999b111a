package rdbparse

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

// TestStreamIDMP: a Redis 8.6 stream (type 26) with idempotent-producer
// state decodes to its entries, meta, IDMP settings and tracked ids, and
// the decoder lands on the next key (the IDMP section was consumed whole).
func TestStreamIDMP(t *testing.T) {
	b := newRDB("REDIS0013")
	b.raw(tStreamLP4).str("s")
	b.len(0)                      // no listpacks
	b.len(0).len(5).len(1)        // length, last id 5-1
	b.len(0).len(0).len(0).len(0) // first id, max deleted id
	b.len(1).len(0)               // entries added, no groups
	b.len(100).len(50)            // IDMP duration, max entries
	b.len(2)                      // producers
	b.str("p1").len(2).str("iid-a").len(5).len(0).str("iid-b").len(5).len(1)
	b.str("p2").len(0)
	b.len(2).len(1) // iids added, duplicates
	b.raw(tString).str("after").str("v")
	m, err := decodeModel(b.done(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if a := m.Keys[mkey(0, "after")]; len(m.Keys) != 2 || a == nil || string(a.Str) != "v" || m.Keys[mkey(0, "s")].Stream.Meta.LastID != (StreamID{5, 1}) {
		t.Fatalf("keys: %+v", m.Keys)
	}
	s := m.Keys[mkey(0, "s")].Stream
	if s.IDMP == nil || *s.IDMP != (StreamIDMP{Duration: 100, MaxSize: 50}) ||
		!reflect.DeepEqual(s.IIDs, []string{"p1/iid-a=5-0", "p1/iid-b=5-1"}) {
		t.Fatalf("IDMP %+v, ids %q", s.IDMP, s.IIDs)
	}
}

// TestCaptureRaw: KindKeyEnd carries the type byte and the exact value
// bytes while they fit in CaptureRaw, and nothing once they outgrow it.
func TestCaptureRaw(t *testing.T) {
	b := newRDB("REDIS0011")
	b.raw(opExpireTimeMS).raw(1, 2, 3, 4, 5, 6, 7, 8)
	b.raw(tSet).str("small").len(2).str("a").str("bb")
	b.raw(tString).str("big").str(strings.Repeat("x", 300))
	data := b.done()
	for _, limit := range []int{0, 10, 1000} {
		raws := map[string][]byte{}
		d := NewDecoder(bytes.NewReader(data), Options{CaptureRaw: limit, MaxChunk: 64})
		err := d.Decode(func(e *Event) error {
			if e.Kind == KindKeyEnd {
				raws[string(e.Key)] = append([]byte(nil), e.Raw...)
				if e.Raw == nil {
					raws[string(e.Key)] = nil
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		wantSmall := []byte{tSet, 2, 1, 'a', 2, 'b', 'b'}
		switch limit {
		case 0:
			if raws["small"] != nil || raws["big"] != nil {
				t.Fatalf("limit 0 captured %q", raws)
			}
		case 10:
			if !bytes.Equal(raws["small"], wantSmall) || raws["big"] != nil {
				t.Fatalf("limit 10: %q", raws)
			}
		case 1000:
			want := append([]byte{tString, 0x41, 0x2c}, strings.Repeat("x", 300)...)
			if !bytes.Equal(raws["small"], wantSmall) || !bytes.Equal(raws["big"], want) {
				t.Fatalf("limit 1000: %q", raws)
			}
		}
	}
}
