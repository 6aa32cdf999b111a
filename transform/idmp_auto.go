package transform

import (
	"encoding/binary"
	"math/bits"

	"github.com/zeebo/xxh3"
)

// idmpAutoIID is the idempotent id that Redis 8.6 computes for
// XADD … IDMPAUTO p … from the entry's field-value pairs (fieldValues:
// field, value, …), which it does not propagate: the replica computes it
// again. Read off redis-server 8.6.3 (xaddCommand) and checked against the
// ids it stores (TestIDMPAutoIIDMatchesServer): each pair is hashed alone,
// XXH3-128 of field, the field's length as 8 bytes little-endian, value;
// the pairs' hashes are summed and XORed (so their order does not matter),
// per 64-bit half, and folded into 16 bytes: the sum's low half XOR the
// XOR's high half rotated left by one bit, then the sum's high half XOR
// the XOR's low half rotated, each little-endian.
func idmpAutoIID(fieldValues [][]byte) []byte {
	var sumLo, sumHi, xorLo, xorHi uint64
	var buf []byte
	for i := 0; i+1 < len(fieldValues); i += 2 {
		f, v := fieldValues[i], fieldValues[i+1]
		buf = append(buf[:0], f...)
		buf = binary.LittleEndian.AppendUint64(buf, uint64(len(f)))
		buf = append(buf, v...)
		h := xxh3.Hash128(buf)
		sumLo += h.Lo
		sumHi += h.Hi
		xorLo ^= h.Lo
		xorHi ^= h.Hi
	}
	iid := make([]byte, 16)
	binary.LittleEndian.PutUint64(iid[:8], sumLo^bits.RotateLeft64(xorHi, 1))
	binary.LittleEndian.PutUint64(iid[8:], sumHi^bits.RotateLeft64(xorLo, 1))
	return iid
}
