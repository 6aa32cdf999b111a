package rdbparse

import "fmt"

// Kind says what an Event carries. The decoder emits events in the order the
// snapshot stores them, so a consumer can rebuild each key without holding it
// whole: KindKey, then the key's elements, then KindKeyEnd.
type Kind uint8

const (
	KindHeader                Kind = iota + 1 // Magic, Version
	KindAux                                   // Name, Value: an AUX field (redis-ver, repl-id, ...)
	KindSelectDB                              // DB
	KindResizeDB                              // DBSize, ExpiresSize
	KindSlotInfo                              // Slot, SlotSize, ExpiresSlotSize (opcode 244, cluster masters)
	KindFunction                              // Value: the source code of one function library
	KindModuleAux                             // Name: the module's name; its payload is read past (Redis refuses the file without the module)
	KindKey                                   // Key header: DB, Key, Type, Encoding, ExpireAt, Idle, Freq, Offset, Len
	KindString                                // Value: a piece of a string value; Last is set on the final piece
	KindListItem                              // Value: the next element, head to tail
	KindSetMember                             // Value
	KindZSetMember                            // Value (member), Score
	KindHashField                             // Name (field), Value, FieldExpireAt (0: no TTL)
	KindStreamEntry                           // ID, Fields (name, value, name, value, ...)
	KindStreamMeta                            // Stream: length, last id, first id, max deleted id, entries added
	KindStreamGroup                           // Group: name, last delivered id, entries read
	KindStreamPending                         // ID, DeliveryTime, DeliveryCount: an entry of the current group's PEL
	KindStreamConsumer                        // Consumer: a consumer of the current group
	KindStreamConsumerPending                 // ID: an entry of the current consumer's PEL
	KindModuleValue                           // Name (module name), Value: the stored value (module id, typed opcodes, EOF): RESTORE with type 7
	KindKeyEnd                                // the key is complete; Empty; Raw: its serialized value (Options.CaptureRaw)
	KindEOF                                   // Checksum: the CRC64 trailer (already verified unless disabled)
	// KindStreamDeletedEntry: ID, Fields of an entry deleted (XDEL) but still
	// stored in its listpack. A group's PEL may still name it: rebuilding
	// that PEL needs the entry to exist while it is claimed.
	KindStreamDeletedEntry
	// KindStreamIDMP: IDMP (duration, max size): a Redis 8.6 stream's
	// idempotent-producer settings (XCFGSET), after its groups; then one
	// KindStreamIDMPEntry per tracked id.
	KindStreamIDMP
	// KindStreamIDMPEntry: Name (producer id), Value (idempotent id), ID
	// (the entry it added): one id a Redis 8.6 stream tracks (XADD IDMP).
	KindStreamIDMPEntry
)

var kindNames = [...]string{
	KindHeader: "header", KindAux: "aux", KindSelectDB: "selectdb", KindResizeDB: "resizedb",
	KindSlotInfo: "slotinfo", KindFunction: "function", KindModuleAux: "module-aux", KindKey: "key",
	KindString: "string", KindListItem: "list-item", KindSetMember: "set-member",
	KindZSetMember: "zset-member", KindHashField: "hash-field", KindStreamEntry: "stream-entry",
	KindStreamMeta: "stream-meta", KindStreamGroup: "stream-group", KindStreamPending: "stream-pending",
	KindStreamConsumer: "stream-consumer", KindStreamConsumerPending: "stream-consumer-pending",
	KindModuleValue: "module-value", KindKeyEnd: "key-end", KindEOF: "eof",
	KindStreamDeletedEntry: "stream-deleted-entry", KindStreamIDMP: "stream-idmp", KindStreamIDMPEntry: "stream-idmp-entry",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// ValueType is the logical type of a key, whatever its encoding.
type ValueType uint8

const (
	TypeString ValueType = iota + 1
	TypeList
	TypeSet
	TypeZSet
	TypeHash
	TypeStream
	TypeModule
)

var typeNames = [...]string{TypeString: "string", TypeList: "list", TypeSet: "set", TypeZSet: "zset",
	TypeHash: "hash", TypeStream: "stream", TypeModule: "module"}

// String returns the name TYPE answers with.
func (t ValueType) String() string {
	if int(t) < len(typeNames) && typeNames[t] != "" {
		return typeNames[t]
	}
	return fmt.Sprintf("type(%d)", t)
}

// StreamID is a stream entry id, ms-seq.
type StreamID struct {
	Ms  uint64
	Seq uint64
}

func (id StreamID) String() string { return fmt.Sprintf("%d-%d", id.Ms, id.Seq) }

// IsZero reports whether the id is 0-0.
func (id StreamID) IsZero() bool { return id.Ms == 0 && id.Seq == 0 }

// StreamMeta is the per-stream state stored after its entries.
type StreamMeta struct {
	Length       uint64
	LastID       StreamID
	FirstID      StreamID // RDB 10+ (zero before)
	MaxDeletedID StreamID // RDB 10+ (zero before)
	EntriesAdded uint64   // RDB 10+ (0 before; then equal to Length is the best guess)
	HasV2Fields  bool     // FirstID, MaxDeletedID and EntriesAdded were stored
}

// StreamIDMP is a Redis 8.6 stream's idempotent-producer settings.
type StreamIDMP struct {
	Duration uint64 // seconds an id is kept (IDMP-DURATION)
	MaxSize  uint64 // ids kept per producer (IDMP-MAXSIZE)
}

// StreamGroup is one consumer group of a stream.
type StreamGroup struct {
	Name           []byte
	LastID         StreamID
	EntriesRead    int64 // RDB 10+; -1 when unknown
	HasEntriesRead bool
}

// StreamConsumer is one consumer of a group.
type StreamConsumer struct {
	Name       []byte
	SeenTime   int64 // unix ms
	ActiveTime int64 // unix ms, RDB 11+ (STREAM_LISTPACKS_3); -1 before
}

// Event is one step of a decoded snapshot. Only the fields named for its Kind
// are meaningful. Byte slices point into the decoder's buffers and are valid
// only until the handler returns: copy what must outlive the call. The
// *Event itself is reused as well.
//
// While a key is decoded, its header fields (DB, Key, Type, Encoding,
// TypeByte, ExpireAt, Idle, Freq, Offset, Len) stay set on its element
// events and on KindKeyEnd, so a handler may use them there too.
type Event struct {
	Kind Kind

	// Position: the byte offset in the snapshot where the record of this event
	// starts (for KindKey: the first opcode of the key, e.g. its EXPIRETIME),
	// so that a replay can resume at the first key not yet applied (see
	// replay.Options.From). A key's element events carry the key's Offset.
	Offset int64

	Magic   string // KindHeader: "REDIS" or "VALKEY"
	Version int    // KindHeader: the RDB version (VALKEY080: 80)

	DB              int    // KindSelectDB, KindKey
	DBSize          uint64 // KindResizeDB
	ExpiresSize     uint64 // KindResizeDB
	Slot            uint64 // KindSlotInfo
	SlotSize        uint64 // KindSlotInfo
	ExpiresSlotSize uint64 // KindSlotInfo

	// KindKey
	Key  []byte
	Type ValueType
	// Encoding is what OBJECT ENCODING says for the stored form once loaded:
	// string "int"/"embstr"/"raw" (always "raw" when streamed in pieces);
	// list "linkedlist"/"ziplist"/"quicklist"/"listpack" (a one-node
	// quicklist of RDB 11+); set "hashtable"/"intset"/"listpack"; zset
	// "skiplist"/"ziplist"/"listpack"; hash "hashtable"/"zipmap"/"ziplist"/
	// "listpack"/"listpackex"; "stream"; module "raw".
	Encoding string
	TypeByte byte  // the RDB type byte, for RESTORE and diagnostics
	ExpireAt int64 // unix ms; 0: no expiry
	Idle     int64 // seconds (LRU); -1: not stored
	Freq     int   // LFU counter; -1: not stored
	Len      int64 // element count when the encoding says it up front (strings: byte length); -1 when not known

	Name  []byte  // KindAux (field name), KindHashField (field), KindModuleAux/KindModuleValue (module name), KindStreamIDMPEntry (producer)
	Value []byte  // string piece, element, member, aux value, function code, module payload, idempotent id
	Last  bool    // KindString: this is the last piece of the value
	Score float64 // KindZSetMember: exact double (±Inf allowed)

	FieldExpireAt int64 // KindHashField: unix ms; 0: the field has no TTL

	ID            StreamID // KindStreamEntry, KindStreamDeletedEntry, KindStreamPending, KindStreamConsumerPending, KindStreamIDMPEntry
	Fields        [][]byte // KindStreamEntry, KindStreamDeletedEntry: name, value, name, value, ...
	DeliveryTime  int64    // KindStreamPending: unix ms
	DeliveryCount uint64   // KindStreamPending
	Stream        StreamMeta
	Group         StreamGroup
	Consumer      StreamConsumer
	IDMP          StreamIDMP // KindStreamIDMP

	// Raw, on KindKeyEnd with Options.CaptureRaw: the type byte and the
	// serialized value, nil when the value was larger than the limit.
	Raw []byte
	// Empty, on KindKeyEnd: the key is a list, set, sorted set or hash
	// with no element (a file written by a buggy tool or an old Redis).
	// Redis skips such a key when it loads the snapshot and logs
	// "skipping empty key"; a consumer should skip it too.
	Empty bool

	Checksum uint64 // KindEOF: the CRC64 trailer (0 when the snapshot carries none)
}

// InKey reports whether events of kind k come between a KindKey and its
// KindKeyEnd (the value's elements and stream state).
func (k Kind) InKey() bool {
	return k >= KindString && k <= KindModuleValue || k >= KindStreamDeletedEntry && k <= KindStreamIDMPEntry
}
