package scan

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/redferry/redferry/rdbparse"
)

// errPayload marks a DUMP payload redferry cannot read: retrying does not help.
var errPayload = errors.New("unreadable DUMP payload")

// dumpTrailer is what DUMP appends to the serialized value: the RDB version
// (2 bytes, little endian) and a CRC64 of everything before it (8 bytes).
const dumpTrailer = 10

// PayloadVersion returns the RDB version a DUMP payload was written with,
// after checking its CRC64 (a zero CRC, as written with rdbchecksum no, is
// accepted).
func PayloadVersion(payload []byte) (int, error) {
	if len(payload) < 1+dumpTrailer {
		return 0, fmt.Errorf("scan: DUMP payload of %d bytes is too short: %w", len(payload), errPayload)
	}
	body := payload[:len(payload)-8]
	sum := binary.LittleEndian.Uint64(payload[len(payload)-8:])
	if sum != 0 && rdbparse.CRC64(0, body) != sum {
		return 0, fmt.Errorf("scan: DUMP payload fails its CRC64 check: %w", errPayload)
	}
	return int(binary.LittleEndian.Uint16(payload[len(payload)-dumpTrailer:])), nil
}

// payloadRDB wraps one DUMP payload into a minimal RDB stream that the
// streaming decoder reads like a snapshot holding that one key: header,
// [expire time], type byte, key name, value, EOF, zero checksum (which the
// decoder accepts as "no checksum"). A DUMP payload is the type byte and the
// serialized value exactly as an RDB stores them, so the same decoder
// applies: every encoding of every version it knows.
func payloadRDB(key, payload []byte, version int, expireAt int64) io.Reader {
	var head bytes.Buffer
	if version >= 80 {
		fmt.Fprintf(&head, "VALKEY%03d", version)
	} else {
		fmt.Fprintf(&head, "REDIS%04d", version)
	}
	if expireAt > 0 {
		head.WriteByte(252) // RDB_OPCODE_EXPIRETIME_MS
		var ms [8]byte
		binary.LittleEndian.PutUint64(ms[:], uint64(expireAt))
		head.Write(ms[:])
	}
	head.WriteByte(payload[0])
	head.Write(appendRDBLen(nil, uint64(len(key))))
	head.Write(key)
	value := payload[1 : len(payload)-dumpTrailer]
	tail := []byte{255, 0, 0, 0, 0, 0, 0, 0, 0} // EOF, no checksum
	return io.MultiReader(&head, bytes.NewReader(value), bytes.NewReader(tail))
}

// appendRDBLen appends n in RDB length encoding (6, 14, 32 or 64 bits).
func appendRDBLen(dst []byte, n uint64) []byte {
	switch {
	case n < 1<<6:
		return append(dst, byte(n))
	case n < 1<<14:
		return append(dst, 0x40|byte(n>>8), byte(n))
	case n <= 0xffffffff:
		return binary.BigEndian.AppendUint32(append(dst, 0x80), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(dst, 0x81), n)
}

// decodePayload calls handle for the events of one DUMP payload of key:
// the header, the key and its value, the key end (with Raw, the type byte
// and serialized value, when captureRaw allows) and EOF.
func decodePayload(key, payload []byte, expireAt int64, captureRaw int, handle func(*rdbparse.Event) error) error {
	version, err := PayloadVersion(payload)
	if err != nil {
		return err
	}
	dec := rdbparse.NewDecoder(payloadRDB(key, payload, version, expireAt), rdbparse.Options{CaptureRaw: captureRaw})
	if err := dec.Decode(handle); err != nil {
		return fmt.Errorf("scan: decoding the DUMP payload of key %q (RDB version %d): %w: %w", key, version, errPayload, err)
	}
	return nil
}
