package rdbparse

import (
	"encoding/binary"
	"fmt"
)

// intsetCheck validates an intset (intset.c): 4-byte element width (2, 4
// or 8), 4-byte count, then the sorted little-endian integers.
func intsetCheck(b []byte) (width, n int, err error) {
	if len(b) < 8 {
		return 0, 0, fmt.Errorf("intset of %d bytes is shorter than its header", len(b))
	}
	width = int(binary.LittleEndian.Uint32(b))
	if width != 2 && width != 4 && width != 8 {
		return 0, 0, fmt.Errorf("intset has bad encoding %d", width)
	}
	cnt := uint64(binary.LittleEndian.Uint32(b[4:]))
	if cnt*uint64(width) != uint64(len(b)-8) {
		return 0, 0, fmt.Errorf("intset counts %d elements of %d bytes, blob has %d", cnt, width, len(b)-8)
	}
	return width, int(cnt), nil
}

func intsetGet(b []byte, width, i int) int64 {
	p := b[8+i*width:]
	switch width {
	case 2:
		return int64(int16(binary.LittleEndian.Uint16(p)))
	case 4:
		return int64(int32(binary.LittleEndian.Uint32(p)))
	}
	return int64(binary.LittleEndian.Uint64(p))
}
