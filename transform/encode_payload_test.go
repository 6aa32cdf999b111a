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
