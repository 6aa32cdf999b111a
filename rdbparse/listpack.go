package rdbparse

import (
	"encoding/binary"
	"fmt"
)

// lpIter walks a listpack (listpack.c): a 4-byte total size, a 2-byte
// element count (65535: unknown), entries, and a 0xFF terminator. Each entry
// is an encoding byte, its data, and a back-length of 1–5 bytes.
type lpIter struct {
	b     []byte
	p     int
	count int // header count, -1 when unknown
	seen  int
}

func newLPIter(b []byte) (lpIter, error) {
	if len(b) < 7 {
		return lpIter{}, fmt.Errorf("listpack of %d bytes is shorter than its header", len(b))
	}
	if total := binary.LittleEndian.Uint32(b); uint64(total) != uint64(len(b)) {
		return lpIter{}, fmt.Errorf("listpack header says %d bytes, blob has %d", total, len(b))
	}
	if b[len(b)-1] != 0xff {
		return lpIter{}, fmt.Errorf("listpack does not end with 0xff")
	}
	n := int(binary.LittleEndian.Uint16(b[4:]))
	if n == 65535 {
		n = -1
	}
	return lpIter{b: b[:len(b)-1], p: 6, count: n}, nil
}

// next returns the next entry: a string (s) or an integer (iv, isInt).
// ok is false at the end, where the count (if known) is checked.
func (it *lpIter) next() (s []byte, iv int64, isInt, ok bool, err error) {
	if it.p >= len(it.b) {
		if it.count >= 0 && it.seen != it.count {
			return nil, 0, false, false, fmt.Errorf("listpack header counts %d entries, found %d", it.count, it.seen)
		}
		return nil, 0, false, false, nil
	}
	b, p := it.b, it.p
	e := b[p]
	var hdr, dlen int // encoding size, data size
	switch {
	case e&0x80 == 0: // 7-bit uint
		iv, isInt, hdr = int64(e&0x7f), true, 1
	case e&0xc0 == 0x80: // 6-bit string length
		hdr, dlen = 1, int(e&0x3f)
	case e&0xe0 == 0xc0: // 13-bit int
		if p+2 > len(b) {
			return nil, 0, false, false, fmt.Errorf("listpack entry at %d truncated", p)
		}
		v := int64(e&0x1f)<<8 | int64(b[p+1])
		if v >= 1<<12 {
			v -= 1 << 13
		}
		iv, isInt, hdr = v, true, 2
	case e&0xf0 == 0xe0: // 12-bit string length
		if p+2 > len(b) {
			return nil, 0, false, false, fmt.Errorf("listpack entry at %d truncated", p)
		}
		hdr, dlen = 2, int(e&0x0f)<<8|int(b[p+1])
	case e == 0xf0: // 32-bit string length
		if p+5 > len(b) {
			return nil, 0, false, false, fmt.Errorf("listpack entry at %d truncated", p)
		}
		l := binary.LittleEndian.Uint32(b[p+1:])
		if uint64(l) > uint64(len(b)) {
			return nil, 0, false, false, fmt.Errorf("listpack string of %d bytes at %d overruns the blob", l, p)
		}
		hdr, dlen = 5, int(l)
	case e >= 0xf1 && e <= 0xf4:
		size := [...]int{2, 3, 4, 8}[e-0xf1]
		if p+1+size > len(b) {
			return nil, 0, false, false, fmt.Errorf("listpack entry at %d truncated", p)
		}
		var u uint64
		for i := size - 1; i >= 0; i-- {
			u = u<<8 | uint64(b[p+1+i])
		}
		shift := 64 - 8*size
		iv, isInt, hdr = int64(u<<shift)>>shift, true, 1+size
	default:
		return nil, 0, false, false, fmt.Errorf("listpack entry at %d has bad encoding byte %#x", p, e)
	}
	size := hdr + dlen // ints: dlen is 0, hdr covers the whole entry
	end := p + size
	if end > len(b) {
		return nil, 0, false, false, fmt.Errorf("listpack entry at %d overruns the blob", p)
	}
	if !isInt {
		s = b[p+hdr : end]
	}
	bl := lpBacklenSize(size)
	if end+bl > len(b) {
		return nil, 0, false, false, fmt.Errorf("listpack entry at %d: back-length overruns the blob", p)
	}
	it.p = end + bl
	it.seen++
	return s, iv, isInt, true, nil
}

func lpBacklenSize(l int) int {
	switch {
	case l <= 127:
		return 1
	case l < 16383:
		return 2
	case l < 2097151:
		return 3
	case l < 268435455:
		return 4
	}
	return 5
}
