package rdbparse

import (
	"encoding/binary"
	"fmt"
)

// zmIter walks a zipmap (zipmap.c, RDB type 9): a 1-byte count, then
// key-length, key, value-length, free byte, value, free bytes; 0xFF ends.
// A length below 254 is one byte, 254 introduces a 4-byte little-endian one.
type zmIter struct {
	b []byte
	p int
}

func newZMIter(b []byte) (zmIter, error) {
	if len(b) < 2 || b[len(b)-1] != 0xff {
		return zmIter{}, fmt.Errorf("zipmap of %d bytes is malformed", len(b))
	}
	return zmIter{b: b, p: 1}, nil
}

func (it *zmIter) length() (int, bool, error) {
	if it.p >= len(it.b) {
		return 0, false, fmt.Errorf("zipmap truncated")
	}
	switch l := it.b[it.p]; {
	case l == 0xff:
		return 0, true, nil
	case l < 254:
		it.p++
		return int(l), false, nil
	case l == 254:
		if it.p+5 > len(it.b) {
			return 0, false, fmt.Errorf("zipmap truncated")
		}
		n := binary.LittleEndian.Uint32(it.b[it.p+1:])
		it.p += 5
		if uint64(n) > uint64(len(it.b)) {
			return 0, false, fmt.Errorf("zipmap length %d overruns the blob", n)
		}
		return int(n), false, nil
	}
	return 0, false, fmt.Errorf("zipmap has bad length byte 0xfd")
}

// next returns the next field and value; ok is false at the end.
func (it *zmIter) next() (field, value []byte, ok bool, err error) {
	kl, end, err := it.length()
	if err != nil || end {
		return nil, nil, false, err
	}
	if it.p+kl > len(it.b) {
		return nil, nil, false, fmt.Errorf("zipmap key overruns the blob")
	}
	field = it.b[it.p : it.p+kl]
	it.p += kl
	vl, end, err := it.length()
	if err != nil {
		return nil, nil, false, err
	}
	if end || it.p >= len(it.b) {
		return nil, nil, false, fmt.Errorf("zipmap key without a value")
	}
	free := int(it.b[it.p])
	it.p++
	if it.p+vl+free > len(it.b)-1 {
		return nil, nil, false, fmt.Errorf("zipmap value overruns the blob")
	}
	value = it.b[it.p : it.p+vl]
	it.p += vl + free
	return field, value, true, nil
}
