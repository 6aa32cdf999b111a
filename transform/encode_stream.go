package transform

import (
	"bytes"
	"encoding/binary"

	"github.com/redferry/redferry/rdbparse"
)

// Stream RDB types, by the RDB version that introduced them; every later
// server still loads the older ones.
const (
	rdbTypeStreamListpacks  = 15 // RDB 9 (Redis 5.0+)
	rdbTypeStreamListpacks2 = 19 // RDB 10 (7.0): first id, max deleted id, entries added, entries read
	rdbTypeStreamListpacks3 = 21 // RDB 11 (7.2, every Valkey): consumers' active time
)

// Stream listpack layout (t_stream.c): entries per node, as Redis cuts
// them by default (stream-node-max-entries 100, stream-node-max-bytes 4096).
const (
	streamNodeEntries = 100
	streamNodeBytes   = 4096
	streamSameFields  = 2 // item flag: the entry has the master entry's fields
)

// streamTypeFor returns the stream RDB type a server of RDB version
// target writes.
func streamTypeFor(target int) byte {
	switch {
	case target >= 11:
		return rdbTypeStreamListpacks3
	case target == 10:
		return rdbTypeStreamListpacks2
	}
	return rdbTypeStreamListpacks
}

// streamEncoder writes a stream's events as the stream RDB type of the
// target's version: its live entries in listpack nodes (entries deleted
// but still stored are left out: no command sees them, and the PEL may
// name ids without an entry as it is), its length, ids and counters, then
// its groups, each with its PEL and consumers. An IDMP state (Redis 8.6)
// is not encoded (ok false). Parts whose count comes first are held apart
// until the count is known.
type streamEncoder struct {
	typ byte

	nodes     []byte // rax key and listpack of each finished node
	nodeCount uint64
	lp        []byte // the current node's listpack entries (no header yet)
	lpElems   int
	lpEntries int
	master    rdbparse.StreamID
	fields    [][]byte // the current node's master fields (copies in fieldBuf)
	fieldBuf  []byte
	firstID   rdbparse.StreamID
	anyEntry  bool

	meta       []byte
	groups     []byte // finished groups
	groupCount uint64
	inGroup    bool
	group      []byte // the current group's name, last id (and entries read)
	pel        []byte
	pelCount   uint64
	consumers  []byte // the current group's finished consumers
	consCount  uint64
	inConsumer bool
	consumer   []byte // the current consumer's name and times
	cpel       []byte
	cpelCount  uint64
}

func (s *streamEncoder) reset(typ byte) {
	*s = streamEncoder{typ: typ, nodes: s.nodes[:0], lp: s.lp[:0], fields: s.fields[:0], fieldBuf: s.fieldBuf[:0],
		meta: s.meta[:0], groups: s.groups[:0], group: s.group[:0], pel: s.pel[:0], consumers: s.consumers[:0],
		consumer: s.consumer[:0], cpel: s.cpel[:0]}
}

// size is the bytes held.
func (s *streamEncoder) size() int {
	return len(s.nodes) + len(s.lp) + len(s.fieldBuf) + len(s.meta) + len(s.groups) + len(s.group) +
		len(s.pel) + len(s.consumers) + len(s.consumer) + len(s.cpel)
}

// add takes one event of the stream; false: the stream cannot be encoded.
func (s *streamEncoder) add(e *rdbparse.Event) bool {
	switch e.Kind {
	case rdbparse.KindStreamEntry:
		s.entry(e.ID, e.Fields)
	case rdbparse.KindStreamDeletedEntry:
		// left out (see streamEncoder)
	case rdbparse.KindStreamMeta:
		s.endNode()
		s.writeMeta(e.Stream)
	case rdbparse.KindStreamGroup:
		s.endGroup()
		s.inGroup = true
		g := e.Group
		s.group = appendRDBString(s.group[:0], g.Name)
		s.group = appendRDBStreamID(s.group, g.LastID)
		if s.typ >= rdbTypeStreamListpacks2 {
			read := g.EntriesRead
			if !g.HasEntriesRead {
				read = -1 // unknown: the server estimates it
			}
			s.group = appendRDBLen(s.group, uint64(read))
		}
	case rdbparse.KindStreamPending:
		s.pel = appendRawStreamID(s.pel, e.ID)
		s.pel = binary.LittleEndian.AppendUint64(s.pel, uint64(e.DeliveryTime))
		s.pel = appendRDBLen(s.pel, e.DeliveryCount)
		s.pelCount++
	case rdbparse.KindStreamConsumer:
		s.endConsumer()
		s.inConsumer = true
		c := e.Consumer
		s.consumer = appendRDBString(s.consumer[:0], c.Name)
		s.consumer = binary.LittleEndian.AppendUint64(s.consumer, uint64(c.SeenTime))
		if s.typ >= rdbTypeStreamListpacks3 {
			active := c.ActiveTime
			if active < 0 {
				active = c.SeenTime // what the server assumes loading an older type
			}
			s.consumer = binary.LittleEndian.AppendUint64(s.consumer, uint64(active))
		}
	case rdbparse.KindStreamConsumerPending:
		s.cpel = appendRawStreamID(s.cpel, e.ID)
		s.cpelCount++
	case rdbparse.KindStreamIDMP:
		// Redis 8.6's IDMP settings, stored with every stream: no target
		// that needs a re-encoding has them (Redis 8.6 reads the payloads
		// of every other server), and commands leave them out as well.
	default:
		return false // idempotent ids (on-unholdable-idmp decides), or an event no stream holds
	}
	return true
}

// entry appends a live entry to the current node, starting a node when
// the current one is full.
func (s *streamEncoder) entry(id rdbparse.StreamID, fields [][]byte) {
	if !s.anyEntry {
		s.firstID, s.anyEntry = id, true
	}
	if s.lpEntries > 0 && (s.lpEntries >= streamNodeEntries || len(s.lp) >= streamNodeBytes) {
		s.endNode()
	}
	if s.lpEntries == 0 {
		s.master = id
		s.fields, s.fieldBuf = s.fields[:0], s.fieldBuf[:0]
		for i := 0; i < len(fields); i += 2 {
			s.fieldBuf = append(s.fieldBuf, fields[i]...)
		}
		off := 0
		for i := 0; i < len(fields); i += 2 {
			s.fields = append(s.fields, s.fieldBuf[off:off+len(fields[i])])
			off += len(fields[i])
		}
		// Master entry: count and deleted count (set at endNode), the
		// fields, and the 0 that ends it.
		s.lp = s.lp[:0]
		s.lpElems = 0
		s.lpInt(0)
		s.lpInt(0)
		s.lpInt(int64(len(s.fields)))
		for _, f := range s.fields {
			s.lpString(f)
		}
		s.lpInt(0)
	}
	same := len(fields) == 2*len(s.fields)
	for i := 0; same && i < len(s.fields); i++ {
		same = bytes.Equal(fields[2*i], s.fields[i])
	}
	flags, count := int64(0), int64(3)
	if same {
		flags = streamSameFields
	}
	s.lpInt(flags)
	s.lpInt(int64(id.Ms - s.master.Ms))
	s.lpInt(int64(id.Seq - s.master.Seq))
	if same {
		for i := 1; i < len(fields); i += 2 {
			s.lpString(fields[i])
		}
		count += int64(len(s.fields))
	} else {
		s.lpInt(int64(len(fields) / 2))
		for _, f := range fields {
			s.lpString(f)
		}
		count += 1 + int64(len(fields))
	}
	s.lpInt(count)
	s.lpEntries++
}

// endNode finishes the current node: its listpack, with the master entry's
// count, after its 16-byte big-endian master id.
func (s *streamEncoder) endNode() {
	if s.lpEntries == 0 {
		return
	}
	// The master entry's count, in place of the 0 written first (2
	// bytes with its back length).
	head := lpAppendEntry(nil, lpAppendInt(nil, int64(s.lpEntries)))
	const first = 2
	total := 6 + len(head) + len(s.lp) - first + 1
	var key [16]byte
	binary.BigEndian.PutUint64(key[:], s.master.Ms)
	binary.BigEndian.PutUint64(key[8:], s.master.Seq)
	s.nodes = appendRDBString(s.nodes, key[:])
	s.nodes = appendRDBLen(s.nodes, uint64(total))
	s.nodes = binary.LittleEndian.AppendUint32(s.nodes, uint32(total))
	s.nodes = binary.LittleEndian.AppendUint16(s.nodes, uint16(min(s.lpElems, 65535)))
	s.nodes = append(s.nodes, head...)
	s.nodes = append(s.nodes, s.lp[first:]...)
	s.nodes = append(s.nodes, 0xff)
	s.nodeCount++
	s.lp, s.lpElems, s.lpEntries = s.lp[:0], 0, 0
}

func (s *streamEncoder) writeMeta(m rdbparse.StreamMeta) {
	s.meta = appendRDBLen(s.meta[:0], m.Length)
	s.meta = appendRDBStreamID(s.meta, m.LastID)
	if s.typ >= rdbTypeStreamListpacks2 {
		if !m.HasV2Fields {
			// As the server does loading an older type.
			m.FirstID, m.MaxDeletedID, m.EntriesAdded = s.firstID, rdbparse.StreamID{}, m.Length
		}
		s.meta = appendRDBStreamID(s.meta, m.FirstID)
		s.meta = appendRDBStreamID(s.meta, m.MaxDeletedID)
		s.meta = appendRDBLen(s.meta, m.EntriesAdded)
	}
}

func (s *streamEncoder) endConsumer() {
	if !s.inConsumer {
		return
	}
	s.consumers = append(s.consumers, s.consumer...)
	s.consumers = appendRDBLen(s.consumers, s.cpelCount)
	s.consumers = append(s.consumers, s.cpel...)
	s.consCount++
	s.consumer, s.cpel, s.cpelCount, s.inConsumer = s.consumer[:0], s.cpel[:0], 0, false
}

func (s *streamEncoder) endGroup() {
	s.endConsumer()
	if !s.inGroup {
		return
	}
	s.groups = append(s.groups, s.group...)
	s.groups = appendRDBLen(s.groups, s.pelCount)
	s.groups = append(s.groups, s.pel...)
	s.groups = appendRDBLen(s.groups, s.consCount)
	s.groups = append(s.groups, s.consumers...)
	s.groupCount++
	s.group, s.pel, s.pelCount, s.consumers, s.consCount, s.inGroup = s.group[:0], s.pel[:0], 0, s.consumers[:0], 0, false
}

// appendValue appends the whole value after the type byte to dst.
func (s *streamEncoder) appendValue(dst []byte) []byte {
	s.endNode()
	s.endGroup()
	dst = append(dst, s.typ)
	dst = appendRDBLen(dst, s.nodeCount)
	dst = append(dst, s.nodes...)
	if len(s.meta) == 0 {
		s.writeMeta(rdbparse.StreamMeta{})
	}
	dst = append(dst, s.meta...)
	dst = appendRDBLen(dst, s.groupCount)
	return append(dst, s.groups...)
}

func (s *streamEncoder) lpInt(v int64) {
	s.lp = lpAppendEntry(s.lp, lpAppendInt(nil, v))
	s.lpElems++
}

func (s *streamEncoder) lpString(v []byte) {
	s.lp = lpAppendString(s.lp, v)
	s.lpElems++
}

func appendRDBStreamID(dst []byte, id rdbparse.StreamID) []byte {
	return appendRDBLen(appendRDBLen(dst, id.Ms), id.Seq)
}

func appendRawStreamID(dst []byte, id rdbparse.StreamID) []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(dst, id.Ms), id.Seq)
}

// lpAppendInt appends the listpack encoding of v (without its back length):
// the smallest of the 7, 13, 16, 24, 32 and 64 bit forms.
func lpAppendInt(dst []byte, v int64) []byte {
	switch {
	case v >= 0 && v <= 127:
		return append(dst, byte(v))
	case v >= -4096 && v <= 4095:
		u := uint64(v) & (1<<13 - 1)
		return append(dst, 0xc0|byte(u>>8), byte(u))
	case v >= -32768 && v <= 32767:
		return binary.LittleEndian.AppendUint16(append(dst, 0xf1), uint16(v))
	case v >= -8388608 && v <= 8388607:
		u := uint32(v)
		return append(dst, 0xf2, byte(u), byte(u>>8), byte(u>>16))
	case v >= -2147483648 && v <= 2147483647:
		return binary.LittleEndian.AppendUint32(append(dst, 0xf3), uint32(v))
	}
	return binary.LittleEndian.AppendUint64(append(dst, 0xf4), uint64(v))
}

// lpAppendString appends s as a listpack string entry with its back length.
func lpAppendString(dst, s []byte) []byte {
	start := len(dst)
	switch n := len(s); {
	case n < 64:
		dst = append(dst, 0x80|byte(n))
	case n < 4096:
		dst = append(dst, 0xe0|byte(n>>8), byte(n))
	default:
		dst = binary.LittleEndian.AppendUint32(append(dst, 0xf0), uint32(n))
	}
	dst = append(dst, s...)
	return lpAppendBacklen(dst, len(dst)-start)
}

// lpAppendEntry appends an encoded entry and its back length.
func lpAppendEntry(dst, enc []byte) []byte {
	return lpAppendBacklen(append(dst, enc...), len(enc))
}

// lpAppendBacklen appends the back length of an entry of l bytes
// (lpEncodeBacklen): 7 bits a byte, most significant first, every byte
// but the first with the high bit set.
func lpAppendBacklen(dst []byte, l int) []byte {
	switch {
	case l <= 127:
		return append(dst, byte(l))
	case l < 16383:
		return append(dst, byte(l>>7), byte(l&127)|128)
	case l < 2097151:
		return append(dst, byte(l>>14), byte(l>>7&127)|128, byte(l&127)|128)
	case l < 268435455:
		return append(dst, byte(l>>21), byte(l>>14&127)|128, byte(l>>7&127)|128, byte(l&127)|128)
	}
	return append(dst, byte(l>>28), byte(l>>21&127)|128, byte(l>>14&127)|128, byte(l>>7&127)|128, byte(l&127)|128)
}
