package rdbparse

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

// Cases where a file differs from what Redis writes today but Redis still
// loads it: the decoder reads it as Redis does.

// TestMetadataBeforeOtherRecords: KeyDB writes an AUX "mvcc-tstamp"
// between a key's expire and its type; Redis reads the AUX and keeps the
// expire (and LRU) for the key, whose record starts at its expire.
func TestMetadataBeforeOtherRecords(t *testing.T) {
	data, start := metadataBeforeAuxRDB()
	var keys []Event
	var aux []string
	err := NewDecoder(bytes.NewReader(data), Options{}).Decode(func(ev *Event) error {
		switch ev.Kind {
		case KindKey:
			keys = append(keys, *ev)
		case KindAux:
			aux = append(aux, string(ev.Name))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || len(aux) != 1 || aux[0] != "mvcc-tstamp" {
		t.Fatalf("keys %d, aux %q", len(keys), aux)
	}
	k := keys[0]
	if k.Offset != int64(start) || k.ExpireAt != fixedExpire || k.Idle != 5 || k.DB != 3 {
		t.Errorf("key %q: offset %d expire %d idle %d db %d, want offset %d, the expire, idle 5, db 3",
			k.Key, k.Offset, k.ExpireAt, k.Idle, k.DB, start)
	}
	if p := keys[1]; p.ExpireAt != 0 || p.Idle != -1 || p.Offset <= k.Offset {
		t.Errorf("the next key inherited metadata: %+v", p)
	}
}

// TestPreGAFunction: a function record of the Redis 7.0 release
// candidates becomes the library Redis 7.0 GA loads from it.
func TestPreGAFunction(t *testing.T) {
	var libs []string
	err := NewDecoder(bytes.NewReader(preGAFunctionRDB()), Options{}).Decode(func(ev *Event) error {
		if ev.Kind == KindFunction {
			libs = append(libs, string(ev.Value))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"#!LUA name=lib1\nredis.register_function('f', function() return 1 end)", "#!LUA name=lib2\nreturn 2"}
	if len(libs) != 2 || libs[0] != want[0] || libs[1] != want[1] {
		t.Fatalf("libraries %q, want %q", libs, want)
	}
}

// TestEmptyKeys: collections without an element (and quicklist nodes
// without one) are read, not refused, and flagged Empty on their end, as
// Redis skips such keys when it loads a file; an empty string or a
// collection with elements is not. An empty zipmap is corrupt, as for Redis.
func TestEmptyKeys(t *testing.T) {
	for i, file := range emptyKeysRDBs() {
		empty := map[string]bool{}
		items := map[string]int{}
		err := NewDecoder(bytes.NewReader(file), Options{}).Decode(func(ev *Event) error {
			switch {
			case ev.Kind == KindKeyEnd:
				empty[string(ev.Key)] = ev.Empty
			case ev.Kind == KindListItem:
				items[string(ev.Key)]++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for k, e := range empty {
			want := k != "ql-some" && k != "str" && k != "stream"
			if e != want {
				t.Errorf("key %q: Empty %v, want %v", k, e, want)
			}
		}
		if wantKeys := []int{9, 2}[i]; len(empty) != wantKeys || items["ql-some"] != []int{1, 0}[i] {
			t.Errorf("keys %v, list items %v", empty, items)
		}
	}
	// An empty zipmap is the exception: Redis refuses it.
	zm := newRDB("REDIS0003").raw(tHashZipmap).str("h").str("\x00\xff").done()
	if err := drain(zm, Options{}); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "empty zipmap") {
		t.Fatalf("empty zipmap: %v", err)
	}
}

// metadataBeforeAuxRDB is a key whose expire and LRU come before an AUX
// and a SELECTDB, then a plain key; start is the first key's offset.
func metadataBeforeAuxRDB() (data []byte, start int) {
	b := newRDB("REDIS0009")
	start = b.Len()
	b.raw(opExpireTimeMS).raw(binary.LittleEndian.AppendUint64(nil, uint64(fixedExpire))...)
	b.raw(opIdle).len(5)
	b.raw(opAux).str("mvcc-tstamp").str("1645954001566433280")
	b.raw(opSelectDB).len(3)
	b.raw(tString).str("k").str("v")
	b.raw(tString).str("plain").str("w")
	return b.done(), start
}

// preGAFunctionRDB holds two libraries in the 7.0 release candidates' form,
// one with a description.
func preGAFunctionRDB() []byte {
	b := newRDB("REDIS0010")
	b.raw(opFunctionPre).str("lib1").str("LUA").len(1).str("a description").str("redis.register_function('f', function() return 1 end)")
	b.raw(opFunctionPre).str("lib2").str("LUA").len(0).str("return 2")
	return b.done()
}

// emptyKeysRDBs: an RDB 11 file with empty collections of every plain and
// compact encoding, a quicklist with an empty node and a full one, an
// empty string and an empty stream; an RDB 9 file with an empty ziplist
// quicklist node and an empty ziplist zset.
func emptyKeysRDBs() [][]byte {
	emptyLP := []byte{7, 0, 0, 0, 0, 0, 0xff} // listpack: total 7 bytes, 0 elements, end
	oneLP := []byte{9, 0, 0, 0, 1, 0, 0x01, 0x01, 0xff}
	emptyZL := []byte{11, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0xff} // ziplist: 11 bytes, tail at 10, 0 entries, end
	b := newRDB("REDIS0011")
	b.raw(tSet).str("set").len(0)
	b.raw(tHash).str("hash").len(0)
	b.raw(tZSet2).str("zset").len(0)
	b.raw(tList).str("linked").len(0)
	b.raw(tSetListpack).str("set-lp").str(string(emptyLP))
	b.raw(tListQuicklist2).str("ql-empty").len(1).len(qlPacked).str(string(emptyLP))
	b.raw(tListQuicklist2).str("ql-some").len(2).len(qlPacked).str(string(emptyLP)).len(qlPacked).str(string(oneLP))
	b.raw(tString).str("str").str("")
	b.raw(tStreamLP3).str("stream").len(0).len(0).len(0).len(0).len(0).len(0).len(0).len(0).len(0).len(0)
	v9 := newRDB("REDIS0009")
	v9.raw(tListQuicklist).str("ql1").len(1).str(string(emptyZL))
	v9.raw(tZSetZiplist).str("zzl").str(string(emptyZL))
	return [][]byte{b.done(), v9.done()}
}
