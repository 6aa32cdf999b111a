package sink

import (
	"bytes"
	"strconv"
)

// numSlots is the number of hash slots of a Redis Cluster.
const numSlots = 16384

// crc16Table is the CRC-16/XMODEM table Redis Cluster hashes keys with.
var crc16Table = func() (t [256]uint16) {
	for i := range t {
		crc := uint16(i) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
		t[i] = crc
	}
	return t
}()

func crc16(p []byte) uint16 {
	var crc uint16
	for _, b := range p {
		crc = crc<<8 ^ crc16Table[byte(crc>>8)^b]
	}
	return crc
}

// KeySlot is the hash slot of key, with hash tags: the part between the
// first { and the next } when it is not empty.
func KeySlot(key []byte) int {
	if s := bytes.IndexByte(key, '{'); s >= 0 {
		if e := bytes.IndexByte(key[s+1:], '}'); e > 0 {
			key = key[s+1 : s+1+e]
		}
	}
	return int(crc16(key) & (numSlots - 1))
}

// TagForSlot returns a short hash tag whose slot is slot: a key holding
// {tag} lives in that slot whatever else it holds.
func TagForSlot(slot int) string {
	for n := 0; ; n++ {
		tag := strconv.Itoa(n)
		if int(crc16([]byte(tag))&(numSlots-1)) == slot {
			return tag
		}
	}
}

// slotTags returns a hash tag for every slot (TagForSlot's for all slots
// at once: about 160 000 numbers hashed, instead of some 16 000 per slot).
func slotTags() *[numSlots]string {
	var t [numSlots]string
	left := numSlots
	for n := 0; left > 0; n++ {
		tag := strconv.Itoa(n)
		if s := int(crc16([]byte(tag)) & (numSlots - 1)); t[s] == "" {
			t[s] = tag
			left--
		}
	}
	return &t
}
