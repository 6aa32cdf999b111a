package transform

import (
	"github.com/redferry/redferry/pkg/server"
	"github.com/redferry/redferry/sink"
)

// A cluster target cannot run a script whose keys are in different slots.
// Where the Translator would write one for a command the target lacks
// (COPY, LMOVE, ZRANGESTORE… into Redis 6.0) and the keys are in different
// slots, it hands the cluster sink what it carries out slot by slot with
// commands every version has (sink/cluster_move.go): COPY, LMOVE and BLMOVE
// as they are, the *STORE scripts marked by sink.StoreScript.

// splitsSlots reports whether the target is a cluster and keys are in
// different slots of it.
func (t *Translator) splitsSlots(keys ...[]byte) bool {
	if !t.caps.ClusterEnabled || len(keys) < 2 {
		return false
	}
	slot := server.KeySlot(keys[0])
	for _, k := range keys[1:] {
		if server.KeySlot(k) != slot {
			return true
		}
	}
	return false
}

// storeScript is script for the cluster sink's store sequence when the
// command's keys (KEYS[1] the destination, the others its sources) are in
// different slots of a cluster target, else script itself.
func (t *Translator) storeScript(script string, keys ...[]byte) string {
	if t.splitsSlots(keys...) {
		return sink.StoreScript(script)
	}
	return script
}
