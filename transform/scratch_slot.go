package transform

import "github.com/redferry/redferry/pkg/server"

// sameSlotScratch names a scratch key (prefix, then key) in key's cluster
// slot for a key whose slot is that of the whole key but which cannot be a
// hash tag (it holds a "}", without a tag of its own): a script names the
// stream with its scratch keys, and on a cluster they must share a slot.
func sameSlotScratch(key []byte, prefix string) []byte {
	return append([]byte("{"+server.TagForSlot(server.KeySlot(key))+"}"+prefix), key...)
}
