package server

import (
	"fmt"
	"strconv"
	"strings"
)

// SlotCount is the number of hash slots of a Redis Cluster.
const SlotCount = 16384

// SlotRange is a range of hash slots, both ends included.
type SlotRange struct{ Start, End int }

// ClusterNode is a master of a cluster as the cluster announces it.
type ClusterNode struct {
	ID    string
	Addr  string      // host:port (the TLS port when the client asking uses TLS)
	Slots []SlotRange // sorted; empty for a master that serves no slot
}

// Owns reports whether the node serves slot.
func (n ClusterNode) Owns(slot int) bool {
	for _, r := range n.Slots {
		if slot >= r.Start && slot <= r.End {
			return true
		}
	}
	return false
}

// SlotsString lists the node's slots as "0-5460,5462" (for logs and checkpoints).
func (n ClusterNode) SlotsString() string { return FormatSlots(n.Slots) }

// FormatSlots writes ranges as "0-5460,5462": the one text form of slot
// ranges (logs, checkpoints, the sink's marks), read back by ParseSlots.
func FormatSlots(ranges []SlotRange) string {
	var sb strings.Builder
	for i, r := range ranges {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(strconv.Itoa(r.Start))
		if r.End != r.Start {
			sb.WriteString("-" + strconv.Itoa(r.End))
		}
	}
	return sb.String()
}

// ParseSlots reads what FormatSlots wrote.
func ParseSlots(s string) ([]SlotRange, error) {
	var out []SlotRange
	if s == "" {
		return nil, nil
	}
	for _, part := range strings.Split(s, ",") {
		a, b, isRange := strings.Cut(part, "-")
		start, err := strconv.Atoi(a)
		end := start
		if err == nil && isRange {
			end, err = strconv.Atoi(b)
		}
		if err != nil || start < 0 || end < start || end >= SlotCount {
			return nil, fmt.Errorf("slot range %q: want N or N-M within 0-%d", part, SlotCount-1)
		}
		out = append(out, SlotRange{start, end})
	}
	return out, nil
}

// SlotOwners returns, per slot, the index in nodes of the master serving
// it (-1: none).
func SlotOwners(nodes []ClusterNode) []int {
	owners := make([]int, SlotCount)
	for i := range owners {
		owners[i] = -1
	}
	for i, n := range nodes {
		for _, r := range n.Slots {
			for s := r.Start; s <= r.End && s < SlotCount; s++ {
				owners[s] = i
			}
		}
	}
	return owners
}

// KeySlot is the cluster hash slot of key: CRC16 (XMODEM) of the key, or of
// its hash tag (the part between the first "{" and the next "}", when not
// empty), modulo 16384. Generic so that the sink's hot path hashes its
// []byte keys without a copy.
func KeySlot[K ~string | ~[]byte](key K) int {
	for open := 0; open < len(key); open++ {
		if key[open] != '{' {
			continue
		}
		for end := open + 1; end < len(key); end++ {
			if key[end] == '}' {
				if end > open+1 {
					key = key[open+1 : end]
				}
				break
			}
		}
		break
	}
	return int(crc16(key) % SlotCount)
}

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

func crc16[K ~string | ~[]byte](key K) uint16 {
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc = crc<<8 ^ crc16Table[byte(crc>>8)^key[i]]
	}
	return crc
}

// TagForSlot returns a short hash tag (digits) whose slot is slot: a key
// holding {tag} lives in that slot whatever else it holds.
func TagForSlot(slot int) string {
	for n := 0; ; n++ {
		if tag := strconv.Itoa(n); KeySlot(tag) == slot {
			return tag
		}
	}
}

// SlotTags returns TagForSlot of every slot, computed at once (about
// 160 000 numbers hashed, instead of some 16 000 per slot).
func SlotTags() *[SlotCount]string {
	var t [SlotCount]string
	left := SlotCount
	for n := 0; left > 0; n++ {
		tag := strconv.Itoa(n)
		if s := KeySlot(tag); t[s] == "" {
			t[s] = tag
			left--
		}
	}
	return &t
}
