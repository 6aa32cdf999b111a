package transform

import "github.com/redferry/redferry/pkg/server"

// sameSlotScratch names a scratch key (prefix, then key) in key's cluster
// slot for a key whose slot is that of the whole key but which cannot be a
// hash tag (it holds a "}", without a tag of its own): a script names the
// stream with its scratch keys, and on a cluster they must share a slot.
func sameSlotScratch(key []byte, prefix string) []byte {
	return append([]byte("{"+sameSlotTag(server.KeySlot(string(key)))+"}"+prefix), key...)
}

// sameSlotTag returns a short hash tag (without "}") whose slot is slot:
// CRC16 is a bijection on its last two bytes, so one of the 65536 endings
// of "rf" has it.
func sameSlotTag(slot int) string {
	tag := []byte("rf__")
	for b := range 1 << 16 {
		tag[2], tag[3] = byte(b>>8), byte(b)
		if tag[2] != '}' && tag[3] != '}' && server.KeySlot(string(tag)) == slot {
			return string(tag)
		}
	}
	return "" // unreachable: every slot has endings without '}'
}
