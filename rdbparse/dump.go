package rdbparse

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
)

// A DUMP payload (what DUMP returns and RESTORE, FUNCTION RESTORE take) is a
// serialized value as an RDB stores it (type byte, then the value; or, for
// FUNCTION DUMP, function opcodes), the RDB version as 2 bytes little
// endian, and the CRC64 of all that, little endian.

const dumpFooter = 10

// DumpVersion returns the RDB version of a DUMP payload, after checking its
// CRC64 (a zero CRC is accepted, as servers with rdbchecksum no write it).
func DumpVersion(payload []byte) (int, error) {
	if len(payload) < dumpFooter+1 {
		return 0, &Error{Msg: fmt.Sprintf("DUMP payload of %d bytes is too short", len(payload)), errs: []error{ErrCorrupt}}
	}
	body := len(payload) - 8
	sum := binary.LittleEndian.Uint64(payload[body:])
	if sum != 0 && sum != CRC64(0, payload[:body]) {
		return 0, &Error{Msg: "DUMP payload checksum mismatch", errs: []error{ErrChecksum}}
	}
	return int(binary.LittleEndian.Uint16(payload[body-2:])), nil
}

// DecodeDump decodes a DUMP payload as the value of key: the events are
// those of a snapshot holding only that key (KindHeader, KindKey, the
// value's events, KindKeyEnd, KindEOF), in db 0, without expiry. Offsets
// count from the start of that synthetic snapshot.
func DecodeDump(key, payload []byte, opt Options, handle func(*Event) error) error {
	version, err := DumpVersion(payload)
	if err != nil {
		return err
	}
	value := payload[:len(payload)-dumpFooter]
	head := appendRDBHeader(nil, version)
	head = append(head, value[0])
	head = appendRDBLen(head, uint64(len(key)))
	head = append(head, key...)
	return decodeSynthetic(head, value[1:], opt, handle)
}

// DecodeFunctionDump decodes a FUNCTION DUMP payload: one KindFunction event
// per library, between KindHeader and KindEOF.
func DecodeFunctionDump(payload []byte, opt Options, handle func(*Event) error) error {
	version, err := DumpVersion(payload)
	if err != nil {
		return err
	}
	return decodeSynthetic(appendRDBHeader(nil, version), payload[:len(payload)-dumpFooter], opt, handle)
}

// decodeSynthetic decodes head, then body, then an EOF opcode with a zero
// checksum (which the decoder takes as "not computed").
func decodeSynthetic(head, body []byte, opt Options, handle func(*Event) error) error {
	tail := make([]byte, 9)
	tail[0] = opEOF
	r := io.MultiReader(bytes.NewReader(head), bytes.NewReader(body), bytes.NewReader(tail))
	return NewDecoder(r, opt).Decode(handle)
}

// appendRDBHeader appends the magic and version: VALKEY for Valkey's own
// versions (80+), REDIS below.
func appendRDBHeader(dst []byte, version int) []byte {
	if version >= 80 {
		return fmt.Appendf(dst, "VALKEY%03d", version)
	}
	return fmt.Appendf(dst, "REDIS%04d", version)
}

// appendRDBLen appends an RDB length encoding of n.
func appendRDBLen(dst []byte, n uint64) []byte {
	switch {
	case n < 1<<6:
		return append(dst, byte(n))
	case n < 1<<14:
		return append(dst, byte(n>>8)|0x40, byte(n))
	case n <= 1<<32-1:
		return binary.BigEndian.AppendUint32(append(dst, 0x80), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(dst, 0x81), n)
}
