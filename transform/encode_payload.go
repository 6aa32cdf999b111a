package transform

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/redferry/redferry/pkg/server"
	"github.com/redferry/redferry/rdbparse"
)

// The plain RDB object types, which every supported server (Redis 6.0 to
// 8.6, Valkey 8.1 and 9.x) still loads and converts to its own compact
// encodings as it loads them (rdbLoadObject: intset, listpack, quicklist).
const (
	rdbTypeString = 0
	rdbTypeList   = 1 // a linked list, element by element
	rdbTypeSet    = 2
	rdbTypeHash   = 4
	rdbTypeZSet2  = 5 // members with binary (little endian) double scores
)

// encodeHeadRoom is the room kept in front of the value for its type byte
// and element count (an RDB length takes at most 9 bytes), known only
// once the key ends.
const encodeHeadRoom = 1 + 9

// payloadEncoder serializes a key's value, from its decoded events, into
// an RDB type that every supported server loads, so that a target whose
// RESTORE cannot read the snapshot's own payload (an older RDB version, or
// the other family: Redis ↔ Valkey) loads it anyway: one RESTORE costs the
// target far less CPU than parsing the commands that rebuild the key
// element by element.
//
// Strings, lists, sets, sorted sets, hashes without field TTLs and streams
// (see streamEncoder) are encoded; anything else (field TTLs, a stream's
// idempotent ids, module values) or a value larger than limit makes the
// encoder give up on the key (ok false): the elements it holds are then
// replayed (replay) into the commands that rebuild the key, and memory
// holds at most limit bytes of it. A stream cannot be replayed: its
// commands are built meanwhile.
type payloadEncoder struct {
	limit int
	// streamType: the stream RDB type the target loads (streamTypeFor);
	// 0: streams are not encoded.
	streamType byte
	buf        []byte // encodeHeadRoom bytes, then the elements
	typ        byte
	count      uint64 // elements (strings: bytes) so far
	ok         bool
	isStream   bool
	stream     streamEncoder
}

// begin starts a key of type t; ok tells whether it can be encoded.
func (p *payloadEncoder) begin(t rdbparse.ValueType) bool {
	var room [encodeHeadRoom]byte
	p.buf = append(p.buf[:0], room[:]...)
	p.count = 0
	p.ok = true
	p.isStream = t == rdbparse.TypeStream
	switch t {
	case rdbparse.TypeString:
		p.typ = rdbTypeString
	case rdbparse.TypeList:
		p.typ = rdbTypeList
	case rdbparse.TypeSet:
		p.typ = rdbTypeSet
	case rdbparse.TypeZSet:
		p.typ = rdbTypeZSet2
	case rdbparse.TypeHash:
		p.typ = rdbTypeHash
	case rdbparse.TypeStream:
		p.typ = p.streamType
		p.ok = p.typ != 0
		p.stream.reset(p.typ)
	default:
		p.ok = false
	}
	return p.ok
}

// add encodes one element event of the key; it returns false, leaving
// out e, once the key cannot be encoded (see replay).
func (p *payloadEncoder) add(e *rdbparse.Event) bool {
	if !p.ok {
		return false
	}
	if p.isStream {
		if !p.stream.add(e) || p.stream.size() > p.limit {
			p.abandon()
		}
		return p.ok
	}
	n, count := len(p.buf), p.count
	switch {
	case e.Kind == rdbparse.KindString && p.typ == rdbTypeString:
		p.buf = append(p.buf, e.Value...)
		p.count += uint64(len(e.Value))
	case e.Kind == rdbparse.KindListItem && p.typ == rdbTypeList,
		e.Kind == rdbparse.KindSetMember && p.typ == rdbTypeSet:
		p.buf = appendRDBString(p.buf, e.Value)
		p.count++
	case e.Kind == rdbparse.KindZSetMember && p.typ == rdbTypeZSet2:
		p.buf = appendRDBString(p.buf, e.Value)
		p.buf = binary.LittleEndian.AppendUint64(p.buf, math.Float64bits(e.Score))
		p.count++
	case e.Kind == rdbparse.KindHashField && p.typ == rdbTypeHash && e.FieldExpireAt == 0:
		p.buf = appendRDBString(p.buf, e.Name)
		p.buf = appendRDBString(p.buf, e.Value)
		p.count++
	default:
		p.ok = false // a hash field TTL, or an event no plain type holds
	}
	if p.ok && len(p.buf) > p.limit+encodeHeadRoom {
		p.ok = false
	}
	if !p.ok {
		p.buf, p.count = p.buf[:n], count
	}
	return p.ok
}

// replay calls fn with an element event for each element encoded so far,
// made from the key's event tmpl (its header fields): a string's bytes as
// one piece. The events are valid during fn only.
func (p *payloadEncoder) replay(tmpl *rdbparse.Event, fn func(*rdbparse.Event) error) error {
	if p.isStream {
		return fmt.Errorf("sink: a stream's events cannot be replayed from its encoding (rebuild it into scratch meanwhile)")
	}
	if len(p.buf) <= encodeHeadRoom {
		return nil
	}
	ev := *tmpl
	ev.Name, ev.Score, ev.FieldExpireAt, ev.Last, ev.Raw = nil, 0, 0, false, nil
	rest := p.buf[encodeHeadRoom:]
	if p.typ == rdbTypeString {
		ev.Kind, ev.Value = rdbparse.KindString, rest
		return fn(&ev)
	}
	switch p.typ {
	case rdbTypeList:
		ev.Kind = rdbparse.KindListItem
	case rdbTypeSet:
		ev.Kind = rdbparse.KindSetMember
	case rdbTypeZSet2:
		ev.Kind = rdbparse.KindZSetMember
	case rdbTypeHash:
		ev.Kind = rdbparse.KindHashField
	}
	for len(rest) > 0 {
		if p.typ == rdbTypeHash {
			ev.Name, rest = cutRDBString(rest)
		}
		ev.Value, rest = cutRDBString(rest)
		if p.typ == rdbTypeZSet2 {
			ev.Score = math.Float64frombits(binary.LittleEndian.Uint64(rest))
			rest = rest[8:]
		}
		if err := fn(&ev); err != nil {
			return err
		}
	}
	return nil
}

// cutRDBString splits an RDB string that appendRDBString wrote off b.
func cutRDBString(b []byte) (s, rest []byte) {
	var n uint64
	switch b[0] >> 6 {
	case 0:
		n, b = uint64(b[0]), b[1:]
	case 1:
		n, b = uint64(b[0]&0x3f)<<8|uint64(b[1]), b[2:]
	default:
		if b[0] == 0x80 {
			n, b = uint64(binary.BigEndian.Uint32(b[1:])), b[5:]
		} else {
			n, b = binary.BigEndian.Uint64(b[1:]), b[9:]
		}
	}
	return b[:n:n], b[n:]
}

// abandon gives up on the current key.
func (p *payloadEncoder) abandon() {
	p.ok = false
	p.buf = p.buf[:0]
}

// value returns the encoded value (type byte, then the value, as an RDB
// stores it), or nil when the key could not be encoded. It is valid until
// the next begin.
func (p *payloadEncoder) value() []byte {
	if !p.ok || len(p.buf) < encodeHeadRoom {
		return nil
	}
	if p.isStream {
		p.buf = p.stream.appendValue(p.buf[:0])
		return p.buf
	}
	var head [encodeHeadRoom]byte
	h := appendRDBLen(append(head[:0], p.typ), p.count)
	start := encodeHeadRoom - len(h)
	copy(p.buf[start:], h)
	return p.buf[start:]
}

// appendRDBString appends s as an RDB string: its length, then its bytes.
func appendRDBString(dst, s []byte) []byte {
	return append(appendRDBLen(dst, uint64(len(s))), s...)
}

// appendRDBLen appends an RDB length encoding of n (6, 14, 32 or 64 bits).
func appendRDBLen(dst []byte, n uint64) []byte {
	switch {
	case n < 1<<6:
		return append(dst, byte(n))
	case n < 1<<14:
		return append(dst, byte(n>>8)|0x40, byte(n))
	case n <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(dst, 0x80), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(dst, 0x81), n)
}

// ReencodePayload re-encodes a DUMP payload that a server of caps cannot
// read into one it can (see payloadEncoder), with caps' RDB version; ok
// is false when the value cannot be (a module value, hash field TTLs, a
// stream's idempotent ids) or the payload does not decode.
func ReencodePayload(key, payload []byte, caps server.Info) (out []byte, ok bool) {
	p := payloadEncoder{limit: RestoreMax, streamType: streamTypeFor(caps.RDBVersion())}
	ok = true
	err := rdbparse.DecodeDump(key, payload, rdbparse.Options{}, func(e *rdbparse.Event) error {
		switch {
		case e.Kind == rdbparse.KindKey:
			ok = p.begin(e.Type)
		case e.Kind.InKey() && ok:
			ok = p.add(e)
		case e.Kind == rdbparse.KindKeyEnd && e.Empty:
			ok = false // RESTORE refuses it: let the target say so
		}
		return nil
	})
	if err != nil || !ok {
		return nil, false
	}
	return AppendDumpPayload(nil, p.value(), caps.RDBVersion()), true
}
