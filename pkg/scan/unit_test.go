package scan

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"testing"
	"time"

	"github.com/redferry/redferry/rdbparse"
	"github.com/redferry/redferry/transform"
)

func TestMissingClasses(t *testing.T) {
	tests := []struct{ flags, want string }{
		{"", "Eg$lshzxet"},
		{"KEA", ""},
		{"AE", ""},
		{"Ex", "g$lshzet"},
		{"KA", "E"},
		{"Eg$lshzxetd", ""},
	}
	for _, tc := range tests {
		if got := missingClasses(tc.flags); got != tc.want {
			t.Errorf("missingClasses(%q) = %q, want %q", tc.flags, got, tc.want)
		}
	}
}

func TestKeyeventDB(t *testing.T) {
	tests := []struct {
		ch string
		db int
		ok bool
	}{
		{"__keyevent@0__:set", 0, true},
		{"__keyevent@15__:rename_to", 15, true},
		{"__keyspace@0__:k", 0, false},
		{"__keyevent@x__:set", 0, false},
	}
	for _, tc := range tests {
		db, ok := keyeventDB(tc.ch)
		if db != tc.db || ok != tc.ok {
			t.Errorf("keyeventDB(%q) = %d, %v", tc.ch, db, ok)
		}
	}
}

// A DUMP payload decodes into the key's events, for every length encoding
// of the key name and for both magics; a payload with a bad CRC is refused.
func TestDecodePayload(t *testing.T) {
	value := []byte{0, 5, 'h', 'e', 'l', 'l', 'o'} // type 0 (string), length 5, "hello"
	for _, keyLen := range []int{1, 63, 64, 16383, 16384, 70000} {
		for _, version := range []int{9, 12, 80} {
			key := bytes.Repeat([]byte{'k'}, keyLen)
			payload := transform.AppendDumpPayload(nil, value, version)
			var got []string
			var expire int64
			err := decodePayload(key, payload, 1234567, 1<<20, func(e *rdbparse.Event) error {
				switch e.Kind {
				case rdbparse.KindKey:
					if !bytes.Equal(e.Key, key) {
						t.Errorf("key of %d bytes decoded as %d bytes", keyLen, len(e.Key))
					}
					expire = e.ExpireAt
				case rdbparse.KindString:
					got = append(got, string(e.Value))
				case rdbparse.KindHeader:
					if e.Version != version {
						t.Errorf("version %d decoded as %d", version, e.Version)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatalf("key of %d bytes, version %d: %v", keyLen, version, err)
			}
			if !reflect.DeepEqual(got, []string{"hello"}) || expire != 1234567 {
				t.Errorf("key of %d bytes, version %d: value %q, expire %d", keyLen, version, got, expire)
			}
		}
	}
	bad := transform.AppendDumpPayload(nil, value, 9)
	binary.LittleEndian.PutUint64(bad[len(bad)-8:], 42)
	if _, err := PayloadVersion(bad); err == nil {
		t.Error("a payload with a wrong CRC was accepted")
	}
}

// Events for one key coalesce into one copy, due after the delay; big
// keys wait longer; past max the set is dropped and a new pass asked for.
func TestDirtySet(t *testing.T) {
	now := time.Unix(1000, 0)
	d := newDirtySet(3, 100*time.Millisecond, time.Second)
	d.setBig(dbKey{0, "big"}, true)
	for range 5 {
		d.mark(0, "a", now)
	}
	d.mark(1, "a", now.Add(10*time.Millisecond))
	d.mark(0, "big", now)
	if n := d.len(); n != 3 {
		t.Fatalf("%d keys queued, want 3", n)
	}
	if got := d.due(now.Add(50*time.Millisecond), 10); len(got) != 0 {
		t.Errorf("due before the delay: %v", got)
	}
	if got, want := d.due(now.Add(200*time.Millisecond), 10), []dbKey{{0, "a"}, {1, "a"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("due after the delay: %v, want %v", got, want)
	}
	if got, want := d.due(now.Add(2*time.Second), 10), []dbKey{{0, "big"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("big key due: %v, want %v", got, want)
	}
	if why := d.takeRescan(); why != "" {
		t.Errorf("rescan asked for without an overflow: %q", why)
	}
	for i := range 4 {
		d.mark(0, string(rune('a'+i)), now)
	}
	if why := d.takeRescan(); why == "" || d.len() != 0 {
		t.Errorf("overflow: rescan %q, %d keys left; want a rescan and an empty set", why, d.len())
	}
}
