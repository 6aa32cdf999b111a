package rdbparse

import (
	"encoding/binary"
	"strconv"
)

// readString reads an RDB string (raw, integer-encoded or LZF) into dst[:0]
// and returns it. The whole string is held: it must be at most maxBlob.
func (d *Decoder) readString(dst []byte, what string) ([]byte, error) {
	off := d.rd.off
	n, enc, err := d.readLenEnc(what)
	if err != nil {
		return dst[:0], err
	}
	if !enc {
		return d.readGrow(dst, n, what)
	}
	switch n {
	case 0, 1, 2:
		v, err := d.readIntEnc(n, what)
		if err != nil {
			return dst[:0], err
		}
		return strconv.AppendInt(dst[:0], v, 10), nil
	case 3:
		clen, ulen, err := d.readLZFHeader(off, what)
		if err != nil {
			return dst[:0], err
		}
		if ulen > maxBlob {
			return dst[:0], d.corrupt(off, "%s: LZF string of %d bytes exceeds the %d-byte limit", what, ulen, maxBlob)
		}
		d.lzfIn, err = d.readGrow(d.lzfIn, clen, what)
		if err != nil {
			return dst[:0], err
		}
		if uint64(cap(dst)) < ulen {
			dst = make([]byte, ulen)
		}
		dst = dst[:ulen]
		if err := lzfDecompress(d.lzfIn, dst); err != nil {
			return dst[:0], d.corrupt(off, "%s: %v", what, err)
		}
		return dst, nil
	}
	return dst[:0], d.corrupt(off, "unknown string encoding %d while reading %s", n, what)
}

// readIntEnc reads the payload of an integer-encoded string (RDB_ENC_INT8/16/32).
func (d *Decoder) readIntEnc(kind uint64, what string) (int64, error) {
	switch kind {
	case 0:
		b, err := d.readByte(what)
		return int64(int8(b)), err
	case 1:
		b, err := d.readN(2, what)
		if err != nil {
			return 0, err
		}
		return int64(int16(binary.LittleEndian.Uint16(b))), nil
	default:
		b, err := d.readN(4, what)
		if err != nil {
			return 0, err
		}
		return int64(int32(binary.LittleEndian.Uint32(b))), nil
	}
}

// readLZFHeader reads the compressed and uncompressed lengths and checks
// them against each other, so that no buffer is sized from a lie.
func (d *Decoder) readLZFHeader(off int64, what string) (clen, ulen uint64, err error) {
	// Constant descriptions: building them from what for every value was
	// most of the decoder's allocations.
	if clen, err = d.readLen("LZF compressed length"); err != nil {
		return
	}
	if ulen, err = d.readLen("LZF uncompressed length"); err != nil {
		return
	}
	if clen == 0 || clen > maxBlob || ulen/lzfMaxRatio > clen {
		err = d.corrupt(off, "%s: implausible LZF lengths: %d compressed, %d uncompressed", what, clen, ulen)
	}
	return
}

// skipString consumes an RDB string without keeping it.
func (d *Decoder) skipString(what string) error {
	off := d.rd.off
	n, enc, err := d.readLenEnc(what)
	if err != nil {
		return err
	}
	if !enc {
		return d.skip(n, what)
	}
	switch n {
	case 0, 1, 2:
		_, err := d.readIntEnc(n, what)
		return err
	case 3:
		clen, _, err := d.readLZFHeader(off, what)
		if err != nil {
			return err
		}
		return d.skip(clen, what)
	}
	return d.corrupt(off, "unknown string encoding %d while reading %s", n, what)
}

// stringEncoding is what OBJECT ENCODING reports for a string value once
// loaded: "int" for integers that fit a long, "embstr" up to 44 bytes.
// Valkey 9 embeds the key and value in one allocation of up to 128 bytes;
// for it the key+value size limit (108) is an approximation.
func (d *Decoder) stringEncoding(v []byte) string {
	if d.valkey {
		if e := stringEncoding(v); e == "int" || len(d.key)+len(v) <= 108 {
			if e == "int" {
				return e
			}
			return "embstr"
		}
		return "raw"
	}
	return stringEncoding(v)
}

func stringEncoding(v []byte) string {
	if len(v) <= 20 && len(v) > 0 {
		if n, err := strconv.ParseInt(string(v), 10, 64); err == nil && strconv.FormatInt(n, 10) == string(v) {
			return "int"
		}
	}
	if len(v) <= 44 {
		return "embstr"
	}
	return "raw"
}

// decodeStringValue decodes a top-level string value: small ones in one
// KindString event, larger than MaxChunk in several.
func (d *Decoder) decodeStringValue() error {
	off := d.rd.off
	n, enc, err := d.readLenEnc("string value")
	if err != nil {
		return err
	}
	if enc {
		switch n {
		case 0, 1, 2:
			v, err := d.readIntEnc(n, "string value")
			if err != nil {
				return err
			}
			d.valBuf = strconv.AppendInt(d.valBuf[:0], v, 10)
			return d.emitSmallString(d.valBuf, "int")
		case 3:
			clen, ulen, err := d.readLZFHeader(off, "string value")
			if err != nil {
				return err
			}
			if d.lzfIn, err = d.readGrow(d.lzfIn, clen, "string value"); err != nil {
				return err
			}
			if ulen <= uint64(d.opt.MaxChunk) {
				if uint64(cap(d.valBuf)) < ulen {
					d.valBuf = make([]byte, ulen)
				}
				d.valBuf = d.valBuf[:ulen]
				if err := lzfDecompress(d.lzfIn, d.valBuf); err != nil {
					return d.corrupt(off, "string value: %v", err)
				}
				return d.emitSmallString(d.valBuf, d.stringEncoding(d.valBuf))
			}
			if err := d.beginKey("raw", int64(ulen)); err != nil {
				return err
			}
			d.lzfWin, err = lzfStream(d.lzfIn, ulen, d.lzfWin, d.opt.MaxChunk, func(p []byte, last bool) error {
				return d.emitString(p, last)
			})
			if err == errLZF {
				return d.corrupt(off, "string value: %v", err)
			}
			return err
		}
		return d.corrupt(off, "unknown string encoding %d for the value", n)
	}
	if n <= uint64(d.opt.MaxChunk) {
		if d.valBuf, err = d.readGrow(d.valBuf, n, "string value"); err != nil {
			return err
		}
		return d.emitSmallString(d.valBuf, d.stringEncoding(d.valBuf))
	}
	if err := d.beginKey("raw", int64(n)); err != nil {
		return err
	}
	for left := n; left > 0; {
		step := min(left, uint64(d.opt.MaxChunk))
		if d.valBuf, err = d.readGrow(d.valBuf, step, "string value"); err != nil {
			return err
		}
		left -= step
		if err := d.emitString(d.valBuf, left == 0); err != nil {
			return err
		}
	}
	return nil
}

func (d *Decoder) emitSmallString(v []byte, enc string) error {
	if err := d.beginKey(enc, int64(len(v))); err != nil {
		return err
	}
	for len(v) > d.opt.MaxChunk { // only integers (up to 20 digits) get here
		if err := d.emitString(v[:d.opt.MaxChunk], false); err != nil {
			return err
		}
		v = v[d.opt.MaxChunk:]
	}
	return d.emitString(v, true)
}

func (d *Decoder) emitString(p []byte, last bool) error {
	d.ev.Kind = KindString
	d.ev.Value = p
	d.ev.Last = last
	return d.handle(&d.ev)
}
