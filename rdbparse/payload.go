package rdbparse

import "encoding/binary"

// PayloadType is the type of the value in a DUMP/RESTORE payload: its first
// byte is the RDB type, its last ten the RDB version (2 bytes, little endian)
// and a CRC64. ok is false for a payload too short or of an unknown type.
func PayloadType(payload []byte) (t ValueType, ok bool) {
	if len(payload) < 11 {
		return 0, false
	}
	version := int(binary.LittleEndian.Uint16(payload[len(payload)-10:]))
	// Valkey 8.0+ writes RDB versions from 80 on (VALKEY080).
	return valueType(payload[0], version >= 80, version)
}
