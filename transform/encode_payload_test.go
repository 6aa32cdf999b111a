package transform

import (
	"bytes"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/redferry/redferry/rdbparse"
)

// encodeCase is a key's value as the decoder's events carry it.
type encodeCase struct {
	name  string
	typ   rdbparse.ValueType
	elems []encodeElem // strings: the pieces
	ttl   bool         // the key expires (set by the RESTORE, not the payload)
}

type encodeElem struct {
	field, value string
	score        float64
}

func strElems(vs ...string) []encodeElem {
	out := make([]encodeElem, len(vs))
	for i, v := range vs {
		out[i].value = v
	}
	return out
}

func manyElems(n, size int) []encodeElem {
	out := make([]encodeElem, n)
	for i := range out {
		v := fmt.Sprintf("%d:%s", i, strings.Repeat("v", size))
		out[i] = encodeElem{field: fmt.Sprintf("f%d", i), value: v, score: float64(i) / 3}
	}
	return out
}

const binaryValue = "a\x00b\xff\r\n\x01"

// encodeCases: each plain type empty-ish, small, holding integers as
// strings, binary, big (elements and counts past the 6 and 14 bit length
// encodings), with a TTL.
var encodeCases = []encodeCase{
	{name: "empty string", typ: rdbparse.TypeString},
	{name: "int string", typ: rdbparse.TypeString, elems: strElems("-12345")},
	{name: "binary string", typ: rdbparse.TypeString, elems: strElems(binaryValue), ttl: true},
	{name: "string in pieces", typ: rdbparse.TypeString, elems: strElems(strings.Repeat("x", 20000), strings.Repeat("y", 70000), "z")},
	{name: "one-element list", typ: rdbparse.TypeList, elems: strElems("")},
	{name: "list", typ: rdbparse.TypeList, elems: strElems("1", "-2", "9223372036854775807", binaryValue, "a", "a"), ttl: true},
	{name: "big list", typ: rdbparse.TypeList, elems: append(manyElems(20000, 10), encodeElem{value: strings.Repeat("L", 70000)})},
	{name: "int set", typ: rdbparse.TypeSet, elems: strElems("1", "2", "-3", "100000")},
	{name: "mixed set", typ: rdbparse.TypeSet, elems: strElems("1", "x", binaryValue, ""), ttl: true},
	{name: "big set", typ: rdbparse.TypeSet, elems: manyElems(5000, 40)},
	{name: "zset", typ: rdbparse.TypeZSet, elems: []encodeElem{{value: "a", score: 1.5}, {value: "1", score: math.Inf(-1)},
		{value: binaryValue, score: math.Inf(1)}, {value: "", score: 1e300}, {value: "x", score: -2.25e-10}}, ttl: true},
	{name: "big zset", typ: rdbparse.TypeZSet, elems: manyElems(3000, 70)},
	{name: "hash", typ: rdbparse.TypeHash, elems: []encodeElem{{field: "a", value: "1"}, {field: "12", value: "-3"},
		{field: binaryValue, value: binaryValue}, {field: "", value: ""}}, ttl: true},
	{name: "big hash", typ: rdbparse.TypeHash, elems: append(manyElems(2000, 80), encodeElem{field: "long", value: strings.Repeat("h", 17000)})},
}

// events returns the decoder's events for c's value (no KindKey, no KindKeyEnd).
func (c encodeCase) events() []rdbparse.Event {
	var evs []rdbparse.Event
	for i, el := range c.elems {
		e := rdbparse.Event{Value: []byte(el.value)}
		switch c.typ {
		case rdbparse.TypeString:
			e.Kind, e.Last = rdbparse.KindString, i == len(c.elems)-1
		case rdbparse.TypeList:
			e.Kind = rdbparse.KindListItem
		case rdbparse.TypeSet:
			e.Kind = rdbparse.KindSetMember
		case rdbparse.TypeZSet:
			e.Kind, e.Score = rdbparse.KindZSetMember, el.score
		case rdbparse.TypeHash:
			e.Kind, e.Name = rdbparse.KindHashField, []byte(el.field)
		}
		evs = append(evs, e)
	}
	return evs
}

// encode runs c's events through a payloadEncoder and returns the DUMP
// payload for RDB version.
func (c encodeCase) encode(t *testing.T, version int) []byte {
	t.Helper()
	p := payloadEncoder{limit: RestoreAutoMax}
	if !p.begin(c.typ) {
		t.Fatalf("%s: begin refused type %s", c.name, c.typ)
	}
	evs := c.events()
	for i := range evs {
		if !p.add(&evs[i]) {
			t.Fatalf("%s: add refused event %d (%s)", c.name, i, evs[i].Kind)
		}
	}
	v := p.value()
	if v == nil {
		t.Fatalf("%s: no value", c.name)
	}
	return AppendDumpPayload(nil, v, version)
}

// decoded is a value as DecodeDump returns it, in comparable form.
type decoded struct {
	typ   rdbparse.ValueType
	str   string
	elems []encodeElem
}

func (c encodeCase) want() decoded {
	d := decoded{typ: c.typ}
	if c.typ == rdbparse.TypeString {
		for _, el := range c.elems {
			d.str += el.value
		}
		return d
	}
	for _, el := range c.elems {
		switch c.typ {
		case rdbparse.TypeZSet:
			el.field = ""
		case rdbparse.TypeHash:
			el.score = 0
		default:
			el.field, el.score = "", 0
		}
		d.elems = append(d.elems, el)
	}
	return d
}

// TestPayloadEncoderRoundTrip: what the encoder writes, rdbparse decodes
// back to the same value, for the RDB versions of every supported target.
func TestPayloadEncoderRoundTrip(t *testing.T) {
	for _, version := range []int{9, 10, 11, 12, 13, 80} {
		for _, c := range encodeCases {
			t.Run(fmt.Sprintf("%d/%s", version, c.name), func(t *testing.T) {
				payload := c.encode(t, version)
				if got, err := rdbparse.DumpVersion(payload); err != nil || got != version {
					t.Fatalf("DumpVersion = %d, %v; want %d", got, err, version)
				}
				var got decoded
				err := rdbparse.DecodeDump([]byte("k"), payload, rdbparse.Options{}, func(e *rdbparse.Event) error {
					switch e.Kind {
					case rdbparse.KindKey:
						got.typ = e.Type
					case rdbparse.KindString:
						got.str += string(e.Value)
					case rdbparse.KindListItem, rdbparse.KindSetMember:
						got.elems = append(got.elems, encodeElem{value: string(e.Value)})
					case rdbparse.KindZSetMember:
						got.elems = append(got.elems, encodeElem{value: string(e.Value), score: e.Score})
					case rdbparse.KindHashField:
						got.elems = append(got.elems, encodeElem{field: string(e.Name), value: string(e.Value)})
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if want := c.want(); !reflect.DeepEqual(got, want) {
					t.Fatalf("decoded %s of %d bytes, %d elements; want %s of %d bytes, %d elements",
						got.typ, len(got.str), len(got.elems), want.typ, len(want.str), len(want.elems))
				}
			})
		}
	}
}

// TestPayloadEncoderGivesUp: a hash field TTL, a stream, or a value over
// the limit leave the key to commands (no value).
func TestPayloadEncoderGivesUp(t *testing.T) {
	p := payloadEncoder{limit: 100}
	if p.begin(rdbparse.TypeStream) || p.value() != nil {
		t.Fatal("a stream was accepted")
	}
	p.begin(rdbparse.TypeHash)
	if p.add(&rdbparse.Event{Kind: rdbparse.KindHashField, Name: []byte("f"), Value: []byte("v"), FieldExpireAt: 1}) || p.value() != nil {
		t.Fatal("a hash field TTL was accepted")
	}
	p.begin(rdbparse.TypeList)
	big := &rdbparse.Event{Kind: rdbparse.KindListItem, Value: bytes.Repeat([]byte("x"), 60)}
	if !p.add(big) || p.add(big) || p.value() != nil {
		t.Fatal("a value over the limit was accepted")
	}
	// What was encoded before giving up is replayed, without the refused element.
	var replayed int
	err := p.replay(&rdbparse.Event{Kind: rdbparse.KindKey}, func(e *rdbparse.Event) error {
		if e.Kind != rdbparse.KindListItem || !bytes.Equal(e.Value, big.Value) {
			t.Fatalf("replayed %s %q", e.Kind, e.Value)
		}
		replayed++
		return nil
	})
	if err != nil || replayed != 1 {
		t.Fatalf("replayed %d elements (%v), want 1", replayed, err)
	}
	p.begin(rdbparse.TypeSet)
	if p.add(&rdbparse.Event{Kind: rdbparse.KindListItem, Value: []byte("x")}) || p.value() != nil {
		t.Fatal("a list item in a set was accepted")
	}
}

// TestPayloadEncoderReplay: replay gives back every element encoded, in
// order (a string as one piece), as the decoder gave them.
func TestPayloadEncoderReplay(t *testing.T) {
	for _, c := range encodeCases {
		t.Run(c.name, func(t *testing.T) {
			p := payloadEncoder{limit: RestoreAutoMax}
			p.begin(c.typ)
			evs := c.events()
			for i := range evs {
				p.add(&evs[i])
			}
			got := decoded{typ: c.typ}
			tmpl := &rdbparse.Event{Kind: rdbparse.KindKey, Key: []byte("k"), Type: c.typ}
			err := p.replay(tmpl, func(e *rdbparse.Event) error {
				if !bytes.Equal(e.Key, tmpl.Key) || e.Type != c.typ {
					t.Fatalf("replayed event of key %q type %s", e.Key, e.Type)
				}
				switch e.Kind {
				case rdbparse.KindString:
					got.str += string(e.Value)
				case rdbparse.KindListItem, rdbparse.KindSetMember:
					got.elems = append(got.elems, encodeElem{value: string(e.Value)})
				case rdbparse.KindZSetMember:
					got.elems = append(got.elems, encodeElem{value: string(e.Value), score: e.Score})
				case rdbparse.KindHashField:
					got.elems = append(got.elems, encodeElem{field: string(e.Name), value: string(e.Value)})
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if want := c.want(); !reflect.DeepEqual(got, want) {
				t.Fatalf("replayed %d bytes, %d elements; want %d bytes, %d elements", len(got.str), len(got.elems), len(want.str), len(want.elems))
			}
		})
	}
}

// TestStreamEncoderRoundTrip: a stream's entries (across nodes, with and
// without the master's fields; a deleted one left out), length, ids,
// counters, groups, PEL and consumers decode back as they went in, in
// each stream type.
func TestStreamEncoderRoundTrip(t *testing.T) {
	var in []rdbparse.Event
	var want []string
	id := func(ms, seq uint64) rdbparse.StreamID { return rdbparse.StreamID{Ms: ms, Seq: seq} }
	for i := uint64(0); i < 250; i++ {
		fields := [][]byte{[]byte("f"), []byte(fmt.Sprint(i)), []byte("g"), []byte(strings.Repeat("x", int(i)))}
		if i%4 == 1 {
			fields = [][]byte{[]byte("other"), []byte(binaryValue)}
		}
		kind := rdbparse.KindStreamEntry
		if i == 7 {
			kind = rdbparse.KindStreamDeletedEntry
		}
		in = append(in, rdbparse.Event{Kind: kind, ID: id(1000+i/3, i%3), Fields: fields})
		if kind == rdbparse.KindStreamEntry {
			want = append(want, fmt.Sprintf("entry %d-%d %q", 1000+i/3, i%3, fields))
		}
	}
	meta := rdbparse.StreamMeta{Length: 249, LastID: id(1083, 0), FirstID: id(1000, 0), MaxDeletedID: id(1002, 1), EntriesAdded: 260, HasV2Fields: true}
	in = append(in, rdbparse.Event{Kind: rdbparse.KindStreamMeta, Stream: meta},
		rdbparse.Event{Kind: rdbparse.KindStreamGroup, Group: rdbparse.StreamGroup{Name: []byte("g1"), LastID: id(1001, 2), EntriesRead: 6, HasEntriesRead: true}},
		rdbparse.Event{Kind: rdbparse.KindStreamPending, ID: id(1000, 1), DeliveryTime: 1700000000123, DeliveryCount: 2},
		rdbparse.Event{Kind: rdbparse.KindStreamPending, ID: id(1002, 1), DeliveryTime: 1700000000456, DeliveryCount: 1},
		rdbparse.Event{Kind: rdbparse.KindStreamConsumer, Consumer: rdbparse.StreamConsumer{Name: []byte("c1"), SeenTime: 1700000000999, ActiveTime: 1700000000500}},
		rdbparse.Event{Kind: rdbparse.KindStreamConsumerPending, ID: id(1000, 1)},
		rdbparse.Event{Kind: rdbparse.KindStreamConsumerPending, ID: id(1002, 1)},
		rdbparse.Event{Kind: rdbparse.KindStreamConsumer, Consumer: rdbparse.StreamConsumer{Name: []byte("idle"), SeenTime: 1700000000001, ActiveTime: 1700000000001}},
		rdbparse.Event{Kind: rdbparse.KindStreamGroup, Group: rdbparse.StreamGroup{Name: []byte("g2"), LastID: id(0, 0), EntriesRead: 0, HasEntriesRead: true}})
	for _, version := range []int{9, 10, 11, 80} {
		t.Run(fmt.Sprint(version), func(t *testing.T) {
			p := payloadEncoder{limit: RestoreAutoMax, streamType: streamTypeFor(version)}
			if !p.begin(rdbparse.TypeStream) {
				t.Fatal("begin refused a stream")
			}
			for i := range in {
				if !p.add(&in[i]) {
					t.Fatalf("add refused event %d (%s)", i, in[i].Kind)
				}
			}
			wantAll := append([]string(nil), want...)
			m := meta
			if version < 10 {
				m = rdbparse.StreamMeta{Length: meta.Length, LastID: meta.LastID, EntriesAdded: meta.Length}
			}
			wantAll = append(wantAll, fmt.Sprintf("meta %+v", m))
			read := func(n int64) int64 {
				if version < 10 {
					return -1
				}
				return n
			}
			active := func(a, seen int64) int64 {
				if version < 11 {
					return -1
				}
				return a
			}
			wantAll = append(wantAll, fmt.Sprintf("group g1 1001-2 %d", read(6)), "pending 1000-1 1700000000123 2", "pending 1002-1 1700000000456 1",
				fmt.Sprintf("consumer c1 1700000000999 %d", active(1700000000500, 0)), "cpending 1000-1", "cpending 1002-1",
				fmt.Sprintf("consumer idle 1700000000001 %d", active(1700000000001, 0)), fmt.Sprintf("group g2 0-0 %d", read(0)))
			var got []string
			err := rdbparse.DecodeDump([]byte("s"), AppendDumpPayload(nil, p.value(), version), rdbparse.Options{}, func(e *rdbparse.Event) error {
				switch e.Kind {
				case rdbparse.KindStreamEntry:
					got = append(got, fmt.Sprintf("entry %s %q", e.ID, e.Fields))
				case rdbparse.KindStreamDeletedEntry:
					t.Errorf("deleted entry %s encoded", e.ID)
				case rdbparse.KindStreamMeta:
					got = append(got, fmt.Sprintf("meta %+v", e.Stream))
				case rdbparse.KindStreamGroup:
					got = append(got, fmt.Sprintf("group %s %s %d", e.Group.Name, e.Group.LastID, e.Group.EntriesRead))
				case rdbparse.KindStreamPending:
					got = append(got, fmt.Sprintf("pending %s %d %d", e.ID, e.DeliveryTime, e.DeliveryCount))
				case rdbparse.KindStreamConsumer:
					got = append(got, fmt.Sprintf("consumer %s %d %d", e.Consumer.Name, e.Consumer.SeenTime, e.Consumer.ActiveTime))
				case rdbparse.KindStreamConsumerPending:
					got = append(got, fmt.Sprintf("cpending %s", e.ID))
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, wantAll) {
				for i := range max(len(got), len(wantAll)) {
					var g, w string
					if i < len(got) {
						g = got[i]
					}
					if i < len(wantAll) {
						w = wantAll[i]
					}
					if g != w {
						t.Fatalf("event %d: got %.200s, want %.200s", i, g, w)
					}
				}
			}
		})
	}
}
