package rdbparse

import (
	"encoding/binary"
	"errors"
	"testing"
)

func dumpPayload(value []byte, version int) []byte {
	p := append([]byte(nil), value...)
	p = binary.LittleEndian.AppendUint16(p, uint16(version))
	return binary.LittleEndian.AppendUint64(p, CRC64(0, p))
}

func TestDecodeDump(t *testing.T) {
	tests := []struct {
		name    string
		value   []byte
		version int
		want    string
	}{
		{"string v10", append([]byte{tString, 5}, "hello"...), 10, "hello"},
		{"string v13", append([]byte{tString, 2}, "hi"...), 13, "hi"},
		{"string valkey 80", append([]byte{tString, 1}, "x"...), 80, "x"},
		{"list of strings v6", append([]byte{tList, 2, 1}, "a\x01b"...), 6, "a,b"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := make([]byte, 70) // a two-byte length
			for i := range key {
				key[i] = 'k'
			}
			var got, gotKey string
			var kinds []Kind
			err := DecodeDump(key, dumpPayload(tc.value, tc.version), Options{}, func(e *Event) error {
				kinds = append(kinds, e.Kind)
				switch e.Kind {
				case KindKey:
					gotKey = string(e.Key)
				case KindString, KindListItem:
					if got != "" {
						got += ","
					}
					got += string(e.Value)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want || gotKey != string(key) || kinds[0] != KindHeader || kinds[len(kinds)-1] != KindEOF {
				t.Errorf("got %q key %q kinds %v", got, gotKey, kinds)
			}
		})
	}
	bad := dumpPayload(append([]byte{tString, 1}, "x"...), 10)
	bad[2] = 'y'
	if err := DecodeDump([]byte("k"), bad, Options{}, func(*Event) error { return nil }); !errors.Is(err, ErrChecksum) {
		t.Errorf("bad checksum: %v", err)
	}
	if _, err := DumpVersion([]byte{1, 2}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("short payload: %v", err)
	}
}

// FuzzDecodeDump: a DUMP payload from the stream (RESTORE, FUNCTION RESTORE)
// is outside bytes. Whatever they are, the decoders end with an error or a
// well-formed event sequence, never a panic, and a payload whose footer is
// rewritten with a valid checksum is judged on its content alone.
func FuzzDecodeDump(f *testing.F) {
	f.Add([]byte{0, 2, 'h', 'i'}, uint16(9))
	f.Add([]byte{2, 2, 1, 'a', 1, 'b'}, uint16(10))
	f.Add([]byte{0xf5, 0xc3, 0x40, 0x61}, uint16(11))
	f.Fuzz(func(t *testing.T, value []byte, version uint16) {
		if len(value) == 0 || len(value) > 64<<10 {
			return
		}
		payload := dumpPayload(value, int(version))
		for _, p := range [][]byte{payload, value} { // with a valid footer, and as raw bytes
			c := newCollector(defaultMaxChunk)
			c.allowDup = true
			c.m.Keys = nil
			if err := DecodeDump([]byte("k"), p, Options{}, c.handle); err == nil && c.m.Events == 0 {
				t.Fatalf("DecodeDump accepted %x without an event", p)
			}
			_ = DecodeFunctionDump(p, Options{}, func(*Event) error { return nil })
		}
	})
}
