// Package rdbparse is a streaming decoder of Redis and Valkey RDB snapshots.
//
// It reads RDB 1–13 ("REDIS0001".."REDIS0013") and VALKEY080/081, all value
// encodings from zipmap/ziplist/linked lists to listpacks, quicklist 2 with
// PLAIN nodes, hashes with field TTLs (Redis 7.4+ types 24/25 and their RC
// forms 22/23, Valkey 9's type 22), streams 15/19/21/26 with groups, PELs and
// consumers, and module values (type 7, handed over raw). It calls a handler
// for each event in snapshot order (see Event).
//
// Memory stays bounded whatever the length fields claim: buffers are reused
// and grow only as bytes arrive (1 MiB at a time), one element or encoded
// blob (listpack, ziplist, intset, compressed payload) is held at most
// maxBlob (512 MiB, Redis' proto-max-bulk-len) at once, top-level strings
// are streamed in MaxChunk pieces (LZF ones are decompressed through an
// 8 KiB window; their compressed form is held whole), and an LZF length
// claiming more than 88 times its compressed size is refused.
//
// Errors name the byte offset and what was expected; they wrap ErrCorrupt
// (truncation also wraps io.ErrUnexpectedEOF), ErrChecksum or
// ErrUnsupportedVersion.
//
// The idempotent-producer (IDMP) state of Redis 8.6 streams (type 26) is
// handed over as its settings and tracked ids (KindStreamIDMP,
// KindStreamIDMPEntry); its counters (iids-added, iids-duplicates) are read
// past: RESTORE of the raw value (Options.CaptureRaw) carries them.
//
// Pre-GA function records (opcode 246, Redis 7.0 release candidates) are
// read as Redis 7.0 loads them: KindFunction with the library's code under
// a "#!<engine> name=<library>" line (the description is dropped).
//
// A record between a key's metadata (expire, LRU, LFU) and its type is read
// as usual and the metadata stays with the key, as Redis loads it (KeyDB
// writes an AUX "mvcc-tstamp" there).
//
// Not supported (an ErrUnsupportedVersion error, never a silent skip), as
// by Redis itself since the GA releases: module values of the 4.0 RC format
// (type 6); and Valkey 9.2's path hash (type 23 in VALKEY081).
package rdbparse

import (
	"errors"
	"io"
	"strconv"

	"go.uber.org/zap"
)

// Options tune a Decoder. The zero value is ready to use.
type Options struct {
	// SkipChecksum disables the CRC64 trailer check (RDB 5+). By default a
	// mismatch fails with ErrChecksum; a zero trailer (rdbchecksum no) is
	// always accepted.
	SkipChecksum bool
	// MaxChunk is the largest KindString piece (default 1 MiB): longer
	// top-level strings come in several events.
	MaxChunk int
	// CaptureRaw, when > 0, hands over each key's serialized value (the
	// type byte, then the value bytes exactly as stored: a DUMP payload
	// without its version and CRC) in Event.Raw on KindKeyEnd, for values
	// of at most CaptureRaw bytes. A longer value is not kept (Raw is nil):
	// the capture stops as soon as it outgrows the limit, so memory stays
	// bounded by CaptureRaw whatever the key's size.
	CaptureRaw int
	// Logger gets warnings (e.g. skipped key metadata); nil: no logging.
	Logger *zap.Logger
}

const defaultMaxChunk = 1 << 20

// Decoder decodes one snapshot. It is not safe for concurrent use.
type Decoder struct {
	rd     reader
	opt    Options
	log    *zap.Logger
	handle func(*Event) error
	used   bool

	magic   string
	version int
	valkey  bool

	ev    Event
	db    int
	inKey bool
	key   []byte
	elems int64 // elements of the current key emitted so far (for Event.Empty)

	// Reused buffers. Event slices point into them.
	nameBuf, valBuf, blobBuf, lzfIn, lzfWin, arena, skipBuf []byte
	masterArena                                             []byte
	fields, master                                          [][]byte
	handlerErr                                              error // a handler error met inside a blob walk
}

// NewDecoder returns a decoder reading the snapshot from r. Decode requests
// from r exactly the bytes it needs and nothing past the checksum trailer,
// so r may be a connection whose stream continues after the snapshot; wrap
// r in a bufio.Reader when reading ahead is harmless, for speed.
func NewDecoder(r io.Reader, opt Options) *Decoder {
	if opt.MaxChunk <= 0 {
		opt.MaxChunk = defaultMaxChunk
	}
	log := opt.Logger
	if log == nil {
		log = zap.NewNop()
	}
	return &Decoder{rd: reader{r: r}, opt: opt, log: log.With(zap.String("stage", "rdbparse")),
		skipBuf: make([]byte, 32<<10)}
}

// Offset returns the number of snapshot bytes consumed so far.
func (d *Decoder) Offset() int64 { return d.rd.off }

// Version returns the magic ("REDIS" or "VALKEY") and the RDB version once
// the header has been read.
func (d *Decoder) Version() (magic string, version int) { return d.magic, d.version }

// RDB opcodes (rdb.h).
const (
	opKeyMeta      = 243 // Redis 8.6 (RDB 13): module key metadata; Valkey 9: SLOT_IMPORT
	opSlotInfo     = 244
	opFunction2    = 245
	opFunctionPre  = 246
	opModuleAux    = 247
	opIdle         = 248
	opFreq         = 249
	opAux          = 250
	opResizeDB     = 251
	opExpireTimeMS = 252
	opExpireTime   = 253
	opSelectDB     = 254
	opEOF          = 255
)

// Decode reads the whole snapshot and calls handle for each event in order.
// It stops at the first error from handle (returned as is) or from the
// input (an *Error wrapping ErrCorrupt, ErrChecksum or
// ErrUnsupportedVersion). The Event and its byte slices are reused: they are
// valid only until handle returns.
func (d *Decoder) Decode(handle func(*Event) error) error {
	if d.used {
		return errors.New("rdbparse: Decode called twice")
	}
	d.used = true
	d.handle = handle
	if err := d.readHeader(); err != nil {
		return err
	}
	var (
		recStart int64 = -1 // offset of the current key's first opcode
		expireAt int64
		idle     int64 = -1
		freq           = -1
	)
	for {
		off := d.rd.off
		if recStart < 0 {
			recStart = off
		}
		pending := recStart != off // a key's metadata opcodes came before
		op, err := d.readByte("opcode")
		if err != nil {
			return err
		}
		switch op {
		case opExpireTimeMS:
			if expireAt, err = d.readMillis("expire time"); err != nil {
				return err
			}
			continue
		case opExpireTime:
			v, err := d.readUint32LE("expire time")
			if err != nil {
				return err
			}
			expireAt = int64(int32(v)) * 1000
			continue
		case opIdle:
			v, err := d.readLen("idle time")
			if err != nil {
				return err
			}
			idle = int64(v)
			continue
		case opFreq:
			v, err := d.readByte("LFU frequency")
			if err != nil {
				return err
			}
			freq = int(v)
			continue
		case opKeyMeta:
			if d.valkey {
				if err := d.slotImport(off); err != nil {
					return err
				}
				if !pending {
					recStart = -1
				}
				continue
			}
			if err := d.keyMeta(off); err != nil {
				return err
			}
			continue
		}
		keyRecord := false
		switch op {
		case opEOF:
			return d.readTrailer(off)
		case opSelectDB:
			v, err := d.readLen("db number")
			if err != nil {
				return err
			}
			if v > 1<<31-1 {
				return d.corrupt(off, "db number %d out of range", v)
			}
			d.db = int(v)
			d.reset(KindSelectDB, off)
			d.ev.DB = d.db
			err = d.emit()
		case opResizeDB:
			a, err1 := d.readLen("db size")
			if err1 != nil {
				return err1
			}
			b, err1 := d.readLen("expires size")
			if err1 != nil {
				return err1
			}
			d.reset(KindResizeDB, off)
			d.ev.DBSize, d.ev.ExpiresSize = a, b
			err = d.emit()
		case opSlotInfo:
			var v [3]uint64
			for i := range v {
				if v[i], err = d.readLen("slot info"); err != nil {
					return err
				}
			}
			d.reset(KindSlotInfo, off)
			d.ev.Slot, d.ev.SlotSize, d.ev.ExpiresSlotSize = v[0], v[1], v[2]
			err = d.emit()
		case opAux:
			if d.nameBuf, err = d.readString(d.nameBuf, "aux field name"); err != nil {
				return err
			}
			if d.valBuf, err = d.readString(d.valBuf, "aux field value"); err != nil {
				return err
			}
			d.reset(KindAux, off)
			d.ev.Name, d.ev.Value = d.nameBuf, d.valBuf
			err = d.emit()
		case opFunction2:
			if d.valBuf, err = d.readString(d.valBuf, "function library"); err != nil {
				return err
			}
			d.reset(KindFunction, off)
			d.ev.Value = d.valBuf
			err = d.emit()
		case opFunctionPre:
			err = d.functionPreGA(off)
		case opModuleAux:
			err = d.moduleAux(off)
		default:
			if err := d.decodeKey(op, recStart, expireAt, idle, freq); err != nil {
				return err
			}
			expireAt, idle, freq = 0, -1, -1
			keyRecord = true
		}
		if err != nil {
			return err
		}
		// A record between a key's metadata and its type (KeyDB writes an
		// AUX "mvcc-tstamp" there) leaves the metadata to the next key, as
		// Redis loads it; the key's record still starts at its metadata.
		if keyRecord || !pending {
			recStart = -1
		}
	}
}

// reset prepares the shared event for a record that is not a key.
func (d *Decoder) reset(k Kind, off int64) {
	d.ev = Event{Kind: k, Offset: off, DB: d.db, Idle: -1, Freq: -1, Len: -1}
}

func (d *Decoder) emit() error { return d.handle(&d.ev) }

func (d *Decoder) readHeader() error {
	b, err := d.readN(9, "header")
	if err != nil {
		return err
	}
	var digits []byte
	switch {
	case string(b[:5]) == "REDIS":
		d.magic, digits = "REDIS", b[5:9]
	case string(b[:6]) == "VALKEY":
		d.magic, digits, d.valkey = "VALKEY", b[6:9], true
	default:
		return d.corrupt(0, "expected magic REDIS or VALKEY, got %q", b[:6])
	}
	v, err := strconv.Atoi(string(digits))
	if err != nil || v < 0 {
		return d.corrupt(0, "bad RDB version %q", digits)
	}
	d.version = v
	if d.valkey && (v < 80 || v > 81) || !d.valkey && (v < 1 || v > 13) {
		return d.errAt(0, ErrUnsupportedVersion, "%s version %d", d.magic, v)
	}
	d.reset(KindHeader, 0)
	d.ev.Magic, d.ev.Version = d.magic, d.version
	return d.emit()
}

// hasChecksum: RDB 5 added the CRC64 trailer.
func (d *Decoder) hasChecksum() bool { return d.valkey || d.version >= 5 }

func (d *Decoder) readTrailer(off int64) error {
	var sum uint64
	if d.hasChecksum() {
		computed := d.rd.crc
		b := d.rd.small[:8]
		if err := d.rd.fullNoCRC(b); err != nil {
			return d.readErr(off+1, "checksum trailer", err)
		}
		for i := 7; i >= 0; i-- {
			sum = sum<<8 | uint64(b[i])
		}
		if sum != 0 && !d.opt.SkipChecksum && sum != computed {
			return d.errAt(off+1, ErrChecksum, "checksum trailer %#016x, computed %#016x", sum, computed)
		}
	}
	d.reset(KindEOF, off)
	d.ev.Checksum = sum
	return d.emit()
}
