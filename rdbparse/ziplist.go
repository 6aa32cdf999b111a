package rdbparse

import (
	"encoding/binary"
	"fmt"
)

// zlIter walks a ziplist (ziplist.c): 4-byte total size, 4-byte tail offset,
// 2-byte count (65535: unknown), entries, 0xFF. Each entry is a previous
// length (1 byte, or 0xFE and 4 bytes), an encoding and its data.
type zlIter struct {
	b     []byte
	p     int
	count int
	seen  int
}

func newZLIter(b []byte) (zlIter, error) {
	if len(b) < 11 {
		return zlIter{}, fmt.Errorf("ziplist of %d bytes is shorter than its header", len(b))
	}
	if total := binary.LittleEndian.Uint32(b); uint64(total) != uint64(len(b)) {
		return zlIter{}, fmt.Errorf("ziplist header says %d bytes, blob has %d", total, len(b))
	}
	if b[len(b)-1] != 0xff {
		return zlIter{}, fmt.Errorf("ziplist does not end with 0xff")
	}
	n := int(binary.LittleEndian.Uint16(b[8:]))
	if n == 65535 {
		n = -1
	}
	return zlIter{b: b[:len(b)-1], p: 10, count: n}, nil
}

func (it *zlIter) next() (s []byte, iv int64, isInt, ok bool, err error) {
	b, p := it.b, it.p
	if p >= len(b) {
		if it.count >= 0 && it.seen != it.count {
			return nil, 0, false, false, fmt.Errorf("ziplist header counts %d entries, found %d", it.count, it.seen)
		}
		return nil, 0, false, false, nil
	}
	if b[p] == 0xfe {
		p += 5
	} else {
		p++
	}
	if p >= len(b) {
		return nil, 0, false, false, fmt.Errorf("ziplist entry truncated")
	}
	e := b[p]
	var hdr, dlen int
	switch e >> 6 {
	case 0:
		hdr, dlen = 1, int(e&0x3f)
	case 1:
		if p+2 > len(b) {
			return nil, 0, false, false, fmt.Errorf("ziplist entry truncated")
		}
		hdr, dlen = 2, int(e&0x3f)<<8|int(b[p+1])
	case 2:
		if p+5 > len(b) {
			return nil, 0, false, false, fmt.Errorf("ziplist entry truncated")
		}
		l := binary.BigEndian.Uint32(b[p+1:])
		if uint64(l) > uint64(len(b)) {
			return nil, 0, false, false, fmt.Errorf("ziplist string of %d bytes overruns the blob", l)
		}
		hdr, dlen = 5, int(l)
	default:
		isInt, hdr = true, 1
		switch e {
		case 0xc0:
			dlen = 2
		case 0xd0:
			dlen = 4
		case 0xe0:
			dlen = 8
		case 0xf0:
			dlen = 3
		case 0xfe:
			dlen = 1
		default:
			if e >= 0xf1 && e <= 0xfd {
				iv = int64(e&0x0f) - 1
			} else {
				return nil, 0, false, false, fmt.Errorf("ziplist entry has bad encoding %#x", e)
			}
		}
	}
	end := p + hdr + dlen
	if end > len(b) {
		return nil, 0, false, false, fmt.Errorf("ziplist entry overruns the blob")
	}
	if isInt {
		if dlen > 0 {
			var u uint64
			for i := dlen - 1; i >= 0; i-- {
				u = u<<8 | uint64(b[p+1+i])
			}
			shift := 64 - 8*dlen
			iv = int64(u<<shift) >> shift
		}
	} else {
		s = b[p+hdr : end]
	}
	it.p = end
	it.seen++
	return s, iv, isInt, true, nil
}
