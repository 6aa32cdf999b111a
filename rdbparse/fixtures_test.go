package rdbparse

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// fixtures returns every snapshot under testdata: the real servers' (gzip)
// and hdt3213/rdb's cases.
func fixtures(t testing.TB) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	gz, _ := filepath.Glob("testdata/*.rdb.gz")
	for _, f := range gz {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		r, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimSuffix(filepath.Base(f), ".gz")] = b
	}
	plain, _ := filepath.Glob("testdata/hdt/*.rdb")
	for _, f := range plain {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out["hdt/"+filepath.Base(f)] = b
	}
	if len(out) < 40 {
		t.Fatalf("only %d fixtures", len(out))
	}
	return out
}

func sortedNames(m map[string][]byte) []string {
	var ns []string
	for n := range m {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return ns
}

func TestFixturesDecode(t *testing.T) {
	fx := fixtures(t)
	for _, name := range sortedNames(fx) {
		data := fx[name]
		t.Run(name, func(t *testing.T) {
			m, err := decodeModel(data, Options{})
			if err != nil {
				t.Fatal(err)
			}
			// Tiny pieces give the same values (exercises chunked raw and
			// streamed LZF strings).
			m2, err := decodeModel(data, Options{MaxChunk: 7})
			if err != nil {
				t.Fatalf("MaxChunk 7: %v", err)
			}
			for id, k := range m.Keys {
				m2.Keys[id].Encoding = k.Encoding // big strings are "raw" when streamed
				if k.describe() != m2.Keys[id].describe() || !bytes.Equal(k.Str, m2.Keys[id].Str) {
					t.Errorf("%s differs with MaxChunk 7:\n%s\n%s", id, k.describe(), m2.Keys[id].describe())
				}
			}
			// A key's Offset points at its first opcode or its type byte.
			for id, k := range m.Keys {
				b := data[k.Offset]
				if b != k.TypeByte && b != opExpireTimeMS && b != opExpireTime && b != opIdle && b != opFreq && b != opKeyMeta {
					t.Errorf("%s: byte %d at its offset %d", id, b, k.Offset)
				}
			}
			// Key offsets grow in file order: a replay resumes at the first
			// key not yet applied by skipping the keys whose Offset is lower.
			for i := 1; i < len(m.Order); i++ {
				if prev, cur := m.Keys[m.Order[i-1]].Offset, m.Keys[m.Order[i]].Offset; cur <= prev {
					t.Errorf("key %s at offset %d follows %s at %d", m.Order[i], cur, m.Order[i-1], prev)
				}
			}
		})
	}
}

// TestFixtureContents pins a few decoded values of the old-encoding cases.
func TestFixtureContents(t *testing.T) {
	fx := fixtures(t)
	cases := []struct {
		file, key string
		check     func(k *keyModel) bool
	}{
		{"hdt/zipmap_that_compresses_easily.rdb", "zipmap_compresses_easily", func(k *keyModel) bool {
			return k.Encoding == "zipmap" && k.Hash["a"] == "aa" && k.Hash["aa"] == "aaaa" && k.Hash["aaaaa"] == "aaaaaaaaaaaaaa"
		}},
		{"hdt/intset_64.rdb", "intset_64", func(k *keyModel) bool {
			return k.Encoding == "intset" && len(k.Set) == 3 && k.Set["9223090557583032316"] && k.Set["9223090557583032318"]
		}},
		{"hdt/ziplist_with_integers.rdb", "ziplist_with_integers", func(k *keyModel) bool {
			return k.Encoding == "ziplist" && fmt.Sprint(k.List) == "[0 1 2 3 4 5 6 7 8 9 10 11 12 -2 13 25 -61 63 16380 -16000 65535 -65523 4194304 9223372036854775807]"
		}},
		{"hdt/linkedlist.rdb", "force_linkedlist", func(k *keyModel) bool {
			return k.Encoding == "linkedlist" && len(k.List) == 1000
		}},
		{"hdt/regular_sorted_set.rdb", "force_sorted_set", func(k *keyModel) bool {
			return k.Encoding == "skiplist" && len(k.ZSet) == 500
		}},
		{"server-redis-8.0.2.rdb", "zset:small", func(k *keyModel) bool {
			return k.ZSet["a"] == 0.1 && k.ZSet["b"] == 1e-300 && k.ZSet["e"] == 9007199254740992 && k.ZSet["c"] < -1e308 && k.ZSet["d"] > 1e308
		}},
		{"server-redis-8.0.2.rdb", "hash:ttl-small", func(k *keyModel) bool {
			return k.Encoding == "listpackex" && k.HashTTL["a"] == fixedExpire && k.HashTTL["c"] == fixedExpire+1234 && k.HashTTL["b"] == 0
		}},
		{"server-valkey-9.1.2.rdb", "hash:ttl-table", func(k *keyModel) bool {
			return k.HashTTL["a"] == fixedExpire+5 && k.HashTTL["b"] == fixedExpire+5 && k.HashTTL["c"] == 0
		}},
		{"server-redis-7.0.15.rdb", "list:plain", func(k *keyModel) bool {
			return len(k.List) == 3 && k.List[1] == strings.Repeat("P", 300)
		}},
	}
	for _, c := range cases {
		m, err := decodeModel(fx[c.file], Options{})
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		var k *keyModel
		for _, km := range m.Keys {
			if km.Key == c.key {
				k = km
			}
		}
		if k == nil {
			t.Errorf("%s: no key %q", c.file, c.key)
			continue
		}
		if !c.check(k) {
			t.Errorf("%s: %s", c.file, k.describe())
		}
	}
}

// TestTruncation: every proper prefix of a snapshot fails with an error
// naming the offset and wrapping io.ErrUnexpectedEOF.
func TestTruncation(t *testing.T) {
	fx := fixtures(t)
	for _, name := range sortedNames(fx) {
		data := fx[name]
		if len(data) > 4<<10 {
			continue
		}
		for n := 0; n < len(data); n++ {
			err := drain(data[:n], Options{})
			if err == nil {
				t.Fatalf("%s cut at %d of %d: no error", name, n, len(data))
			}
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, io.ErrUnexpectedEOF) || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("%s cut at %d: %v", name, n, err)
			}
			if e.Offset > int64(n) || !strings.Contains(err.Error(), fmt.Sprintf("at byte %d", e.Offset)) {
				t.Fatalf("%s cut at %d: offset %d in %v", name, n, e.Offset, err)
			}
		}
	}
}

// TestBitFlip: any flipped byte gives ErrChecksum or ErrCorrupt (or, in the
// version digits, ErrUnsupportedVersion), never success or a panic.
func TestBitFlip(t *testing.T) {
	fx := fixtures(t)
	for _, name := range sortedNames(fx) {
		data := fx[name]
		if len(data) > 4<<10 || !strings.HasPrefix(name, "server-") && !strings.Contains(name, "hfe") {
			continue
		}
		buf := bytes.Clone(data)
		for i := range buf {
			for _, x := range []byte{0x01, 0xff} {
				buf[i] ^= x
				err := drain(buf, Options{})
				buf[i] ^= x
				if err == nil {
					t.Fatalf("%s: byte %d ^ %#x accepted", name, i, x)
				}
				if !errors.Is(err, ErrChecksum) && !errors.Is(err, ErrCorrupt) && !(i < 9 && errors.Is(err, ErrUnsupportedVersion)) {
					t.Fatalf("%s: byte %d ^ %#x: %v", name, i, x, err)
				}
			}
		}
	}
}

// drain decodes data with a handler that keeps nothing; it fails if the
// decoder stops before the end.
func drain(data []byte, opt Options) error {
	d := NewDecoder(bytes.NewReader(data), opt)
	if err := d.Decode(func(*Event) error { return nil }); err != nil {
		return err
	}
	if d.Offset() != int64(len(data)) {
		// Only a header whose version lost its trailer (below 5) may do so.
		if _, v := d.Version(); v >= 5 {
			return fmt.Errorf("decoder consumed %d of %d bytes", d.Offset(), len(data))
		}
		return ErrCorrupt
	}
	return nil
}

func TestHandlerErrorPassesThrough(t *testing.T) {
	data := fixtures(t)["server-redis-8.0.2.rdb"]
	stop := errors.New("stop")
	for _, at := range []Kind{KindHeader, KindAux, KindKey, KindString, KindListItem, KindHashField,
		KindStreamEntry, KindStreamGroup, KindStreamPending, KindStreamConsumer, KindFunction, KindEOF} {
		err := NewDecoder(bytes.NewReader(data), Options{}).Decode(func(ev *Event) error {
			if ev.Kind == at {
				return stop
			}
			return nil
		})
		if err != stop {
			t.Errorf("stop at %v: got %v", at, err)
		}
	}
}

func TestDoesNotReadPastTrailer(t *testing.T) {
	data := fixtures(t)["server-valkey-9.1.2.rdb"]
	tail := []byte("+PING\r\n")
	r := bytes.NewReader(append(bytes.Clone(data), tail...))
	if err := NewDecoder(r, Options{}).Decode(func(*Event) error { return nil }); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(r)
	if !bytes.Equal(rest, tail) {
		t.Fatalf("left %q after the snapshot", rest)
	}
}
