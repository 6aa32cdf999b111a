package rdbparse

import (
	"encoding/binary"
	"io"
	"math"
	"slices"
)

// Limits that keep a lying length field from costing memory.
const (
	// maxBlob caps one string, element or encoded blob (listpack, ziplist,
	// compressed payload) held in memory at once: Redis' own
	// proto-max-bulk-len default. Top-level strings are streamed in
	// MaxChunk pieces and are not bound by it unless LZF-compressed (their
	// compressed form is held whole).
	maxBlob = 512 << 20
	// readStep is how much a buffer grows per read when a length field asks
	// for more than is already allocated: memory follows the bytes that
	// actually arrive, not what the length claims.
	readStep = 1 << 20
	// lzfMaxRatio bounds the expansion of LZF data: a 3-byte back-reference
	// yields at most 264 bytes. A claimed uncompressed length beyond
	// compressed*lzfMaxRatio is corrupt and not allocated.
	lzfMaxRatio = 88
)

// reader reads exactly the bytes asked for from r (it never reads ahead, so
// it never consumes input past the snapshot's trailer), keeping the offset
// and the running CRC64.
type reader struct {
	r       io.Reader
	off     int64
	crc     uint64
	small   [16]byte
	capture bool   // append consumed bytes to capBuf (module values)
	capBuf  []byte // captured bytes
	capErr  bool   // capture exceeded maxBlob
	// raw capture of a key's serialized value (Options.CaptureRaw)
	raw      bool   // capturing
	rawBuf   []byte // the type byte, then the value bytes read so far
	rawLimit int    // stop (rawOver) once rawBuf would exceed this
	rawOver  bool   // the value outgrew rawLimit: rawBuf was dropped
}

func (rd *reader) consumed(p []byte) {
	rd.off += int64(len(p))
	rd.crc = crc64Update(rd.crc, p)
	if rd.capture {
		if len(rd.capBuf)+len(p) > maxBlob {
			rd.capErr = true
		} else {
			rd.capBuf = append(rd.capBuf, p...)
		}
	}
	if rd.raw {
		if len(rd.rawBuf)+len(p) > rd.rawLimit {
			rd.raw, rd.rawOver, rd.rawBuf = false, true, rd.rawBuf[:0]
		} else {
			rd.rawBuf = append(rd.rawBuf, p...)
		}
	}
}

// full fills p from the input.
func (rd *reader) full(p []byte) error {
	n, err := io.ReadFull(rd.r, p)
	rd.consumed(p[:n])
	return err
}

// fullNoCRC reads the trailer, which is not part of the checksum.
func (rd *reader) fullNoCRC(p []byte) error {
	n, err := io.ReadFull(rd.r, p)
	rd.off += int64(n)
	return err
}

// Low-level reads, each returning an *Error naming the offset on failure.

func (d *Decoder) readByte(what string) (byte, error) {
	off := d.rd.off
	b := d.rd.small[:1]
	if err := d.rd.full(b); err != nil {
		return 0, d.readErr(off, what, err)
	}
	return b[0], nil
}

func (d *Decoder) readN(n int, what string) ([]byte, error) {
	off := d.rd.off
	b := d.rd.small[:n]
	if err := d.rd.full(b); err != nil {
		return nil, d.readErr(off, what, err)
	}
	return b, nil
}

func (d *Decoder) readUint32LE(what string) (uint32, error) {
	b, err := d.readN(4, what)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

func (d *Decoder) readUint64LE(what string) (uint64, error) {
	b, err := d.readN(8, what)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

func (d *Decoder) readMillis(what string) (int64, error) {
	v, err := d.readUint64LE(what)
	return int64(v), err
}

func (d *Decoder) readBinaryDouble(what string) (float64, error) {
	v, err := d.readUint64LE(what)
	return math.Float64frombits(v), err
}

// readLenEnc reads an RDB length: 6-, 14-, 32- or 64-bit, or (when encoded is
// set) the kind of a specially encoded string (RDB_ENC_*).
func (d *Decoder) readLenEnc(what string) (n uint64, encoded bool, err error) {
	off := d.rd.off
	b, err := d.readByte(what)
	if err != nil {
		return 0, false, err
	}
	switch b >> 6 {
	case 0:
		return uint64(b & 0x3f), false, nil
	case 1:
		b2, err := d.readByte(what)
		if err != nil {
			return 0, false, err
		}
		return uint64(b&0x3f)<<8 | uint64(b2), false, nil
	case 3:
		return uint64(b & 0x3f), true, nil
	}
	switch b {
	case 0x80:
		p, err := d.readN(4, what)
		if err != nil {
			return 0, false, err
		}
		return uint64(binary.BigEndian.Uint32(p)), false, nil
	case 0x81:
		p, err := d.readN(8, what)
		if err != nil {
			return 0, false, err
		}
		return binary.BigEndian.Uint64(p), false, nil
	}
	return 0, false, d.corrupt(off, "bad length prefix %#x while reading %s", b, what)
}

// readLen reads a plain length (a special encoding there is corruption).
func (d *Decoder) readLen(what string) (uint64, error) {
	off := d.rd.off
	n, enc, err := d.readLenEnc(what)
	if err == nil && enc {
		err = d.corrupt(off, "expected a length for %s, got a string encoding marker", what)
	}
	return n, err
}

// readGrow reads n bytes into dst[:0], growing dst as the bytes arrive.
func (d *Decoder) readGrow(dst []byte, n uint64, what string) ([]byte, error) {
	off := d.rd.off
	if n > maxBlob {
		return dst[:0], d.corrupt(off, "%s of %d bytes exceeds the %d-byte limit", what, n, maxBlob)
	}
	if uint64(cap(dst)) >= n {
		dst = dst[:n]
		if err := d.rd.full(dst); err != nil {
			return dst[:0], d.readErr(off, what, err)
		}
		return dst, nil
	}
	dst = dst[:0]
	for uint64(len(dst)) < n {
		step := min(n-uint64(len(dst)), readStep)
		l := len(dst)
		dst = slices.Grow(dst, int(step))[:l+int(step)]
		if err := d.rd.full(dst[l:]); err != nil {
			return dst[:0], d.readErr(off, what, err)
		}
	}
	return dst, nil
}

// skip discards n bytes (checksummed).
func (d *Decoder) skip(n uint64, what string) error {
	off := d.rd.off
	for n > 0 {
		step := min(n, uint64(len(d.skipBuf)))
		if err := d.rd.full(d.skipBuf[:step]); err != nil {
			return d.readErr(off, what, err)
		}
		n -= step
	}
	return nil
}
