package rdbparse

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"runtime"
	"strings"
	"testing"
)

// rdbBuilder writes snapshots by hand for cases no server here produces.
type rdbBuilder struct{ bytes.Buffer }

func newRDB(header string) *rdbBuilder { b := &rdbBuilder{}; b.WriteString(header); return b }

func (b *rdbBuilder) len(n uint64) *rdbBuilder {
	switch {
	case n < 64:
		b.WriteByte(byte(n))
	case n < 16384:
		b.WriteByte(byte(0x40 | n>>8))
		b.WriteByte(byte(n))
	case n <= math.MaxUint32:
		b.WriteByte(0x80)
		b.Write(binary.BigEndian.AppendUint32(nil, uint32(n)))
	default:
		b.WriteByte(0x81)
		b.Write(binary.BigEndian.AppendUint64(nil, n))
	}
	return b
}

func (b *rdbBuilder) str(s string) *rdbBuilder  { b.len(uint64(len(s))); b.WriteString(s); return b }
func (b *rdbBuilder) raw(p ...byte) *rdbBuilder { b.Write(p); return b }

// done appends EOF and the CRC64 trailer.
func (b *rdbBuilder) done() []byte {
	b.WriteByte(opEOF)
	sum := crc64Update(0, b.Bytes())
	b.Write(binary.LittleEndian.AppendUint64(nil, sum))
	return b.Bytes()
}

func moduleID(name string, ver uint64) uint64 {
	var id uint64
	for i := 0; i < 9; i++ {
		id = id<<6 | uint64(strings.IndexByte(moduleCharset, name[i]))
	}
	return id<<10 | ver
}

func TestCraftedModuleAndOpcodes(t *testing.T) {
	id := moduleID("ReJSON-RL", 3)
	b := newRDB("REDIS0011")
	b.raw(opAux).str("redis-ver").str("7.2.0")
	b.raw(opModuleAux).len(id).len(modUInt).len(2).len(modString).str("aux payload").len(modEOF)
	b.raw(opSelectDB).len(5)
	b.raw(opResizeDB).len(1).len(1)
	b.raw(opSlotInfo).len(42).len(1).len(0)
	keyStart := b.Len()
	b.raw(opExpireTimeMS).raw(binary.LittleEndian.AppendUint64(nil, uint64(fixedExpire))...)
	b.raw(opIdle).len(77)
	b.raw(opFreq).raw(9)
	valStart := b.Len() + 1 + 1 + 3 // type, key len, key
	b.raw(tModule2).str("doc").len(id).len(modSInt).len(5).len(modDouble).raw(make([]byte, 8)...).
		len(modFloat).raw(1, 2, 3, 4).len(modString).str("{\"a\":1}").len(modEOF)
	valEnd := b.Len()
	b.raw(opExpireTime).raw(binary.LittleEndian.AppendUint32(nil, 2000000000)...)
	b.raw(tString).str("old").str("v")
	data := b.done()

	var got []string
	var ev0 Event
	err := NewDecoder(bytes.NewReader(data), Options{}).Decode(func(ev *Event) error {
		got = append(got, ev.Kind.String())
		switch ev.Kind {
		case KindModuleAux:
			if string(ev.Name) != "ReJSON-RL" {
				t.Errorf("module aux name %q", ev.Name)
			}
		case KindSlotInfo:
			if ev.Slot != 42 || ev.SlotSize != 1 {
				t.Errorf("slot info %+v", ev)
			}
		case KindKey:
			if string(ev.Key) == "doc" {
				ev0 = *ev
			}
			if string(ev.Key) == "old" && ev.ExpireAt != 2000000000000 {
				t.Errorf("old expire %d", ev.ExpireAt)
			}
		case KindModuleValue:
			if string(ev.Name) != "ReJSON-RL" || !bytes.Equal(ev.Value, data[valStart:valEnd]) {
				t.Errorf("module value %q %x, want %x", ev.Name, ev.Value, data[valStart:valEnd])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if ev0.Offset != int64(keyStart) || ev0.DB != 5 || ev0.ExpireAt != fixedExpire || ev0.Idle != 77 || ev0.Freq != 9 || ev0.Type != TypeModule {
		t.Errorf("module key header %+v (start %d)", ev0, keyStart)
	}
	want := "header aux module-aux selectdb resizedb slotinfo key module-value key-end key string key-end eof"
	if strings.Join(got, " ") != want {
		t.Errorf("events\n%s\nwant\n%s", strings.Join(got, " "), want)
	}
}

func TestCraftedErrors(t *testing.T) {
	cases := []struct {
		name string
		data []byte
		is   error
		msg  string
	}{
		{"unknown type", newRDB("REDIS0011").raw(99).str("foo").done(), ErrCorrupt, `at byte 9: unknown value type 99 for key "foo"`},
		{"bad magic", []byte("RODIS0011\xff"), ErrCorrupt, "at byte 0: expected magic"},
		{"future version", newRDB("REDIS0099").done(), ErrUnsupportedVersion, "REDIS version 99"},
		{"valkey future", newRDB("VALKEY099").done(), ErrUnsupportedVersion, "VALKEY version 99"},
		{"checksum", append(newRDB("REDIS0011").raw(tString).str("k").str("v").done()[:15], 1, 2, 3, 4, 5, 6, 7, 8), ErrChecksum, "checksum trailer"},
		{"module pre-GA", newRDB("REDIS0008").raw(tModulePreGA).str("m").done(), ErrUnsupportedVersion, "type 6"},
		{"stream v4 IDMP cut", newRDB("REDIS0013").raw(tStreamLP4).str("s").len(0).len(0).len(0).len(0).len(0).len(0).len(0).len(0).len(0).len(0).done(),
			ErrCorrupt, "stream IDMP duration"},
		{"valkey type 23", newRDB("VALKEY081").raw(23).str("p").done(), ErrUnsupportedVersion, "path hash"},
		{"valkey type 23 in 080", newRDB("VALKEY080").raw(23).str("p").done(), ErrCorrupt, "unknown value type 23"},
		{"type too new", newRDB("REDIS0009").raw(tSetListpack).str("p").done(), ErrCorrupt, "unknown value type 20"},
		{"valkey type 24", newRDB("VALKEY081").raw(24).str("p").done(), ErrCorrupt, "unknown value type 24"},
		{"pre-GA function cut", newRDB("REDIS0010").raw(opFunctionPre).str("x").done(), ErrCorrupt, "pre-GA function engine name"},
		{"huge string", newRDB("REDIS0011").raw(tString).str("k").len(1 << 62).done(), io.ErrUnexpectedEOF, "truncated"},
		{"huge element", newRDB("REDIS0011").raw(tSet).str("k").len(1).len(1 << 62).done(), ErrCorrupt, "exceeds"},
		{"lying string", newRDB("REDIS0011").raw(tSet).str("k").len(1).len(400 << 20).raw('x').done(), io.ErrUnexpectedEOF, "truncated input"},
		{"lying count", newRDB("REDIS0011").raw(tList).str("k").len(1 << 40).str("x").done(), ErrCorrupt, "unknown string encoding 63 while reading list element"},
		{"lzf ratio", newRDB("REDIS0011").raw(tString).str("k").raw(0xc3).len(3).len(1<<30).raw(1, 2, 3).done(), ErrCorrupt, "implausible LZF"},
		{"lying listpack", newRDB("REDIS0011").raw(tSetListpack).str("k").str("\xff\xff\xff\x7f\x01\x00\x01\xff").done(), ErrCorrupt, "listpack header says"},
		{"intset count", newRDB("REDIS0011").raw(tSetIntset).str("k").str("\x02\x00\x00\x00\xff\xff\xff\xff\x01\x00").done(), ErrCorrupt, "intset counts"},
		{"zero checksum ok", nil, nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.data == nil {
				b := newRDB("REDIS0011").raw(tString).str("k").str("v")
				b.WriteByte(opEOF)
				b.Write(make([]byte, 8)) // rdbchecksum no
				if err := drain(b.Bytes(), Options{}); err != nil {
					t.Fatal(err)
				}
				return
			}
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			err := drain(c.data, Options{})
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			if !errors.Is(err, c.is) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("got %v, want %v containing %q", err, c.is, c.msg)
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 8<<20 {
				t.Errorf("allocated %d bytes for a %d-byte input", grew, len(c.data))
			}
		})
	}
}

func TestSkipChecksum(t *testing.T) {
	data := newRDB("REDIS0011").raw(tString).str("k").str("v").done()
	data[len(data)-1] ^= 1
	if err := drain(data, Options{}); !errors.Is(err, ErrChecksum) {
		t.Fatalf("got %v", err)
	}
	if err := drain(data, Options{SkipChecksum: true}); err != nil {
		t.Fatal(err)
	}
}

// TestCraftedOpcode243: Redis 8.6 KEY_META before a key (skipped, the key's
// offset starts at it) and Valkey 9 SLOT_IMPORT (skipped).
func TestCraftedOpcode243(t *testing.T) {
	b := newRDB("REDIS0013")
	start := b.Len()
	b.raw(opKeyMeta).len(1).raw('A', 'B', 'C', 'D').len(modUInt).len(7).len(modEOF)
	b.raw(opExpireTimeMS).raw(binary.LittleEndian.AppendUint64(nil, uint64(fixedExpire))...)
	b.raw(tString).str("k").str("v")
	m, err := decodeModel(b.done(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	k := m.Keys["0:k"]
	if k == nil || k.Offset != int64(start) || k.ExpireAt != fixedExpire || string(k.Str) != "v" {
		t.Fatalf("key %+v, want offset %d", k, start)
	}

	v := newRDB("VALKEY080")
	v.raw(opKeyMeta).str("job-1").len(2).len(0).len(100).len(200).len(300)
	v.raw(tString).str("k").str("v")
	if m, err = decodeModel(v.done(), Options{}); err != nil || len(m.Keys) != 1 {
		t.Fatalf("valkey slot import: %v %v", err, m)
	}
}

func TestDecodeTwice(t *testing.T) {
	d := NewDecoder(bytes.NewReader(newRDB("REDIS0011").done()), Options{})
	if err := d.Decode(func(*Event) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if err := d.Decode(func(*Event) error { return nil }); err == nil {
		t.Fatal("second Decode accepted")
	}
}
