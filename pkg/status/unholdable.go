package status

import (
	"sync"

	"github.com/redferry/redferry/pkg/unholdable"
)

// unholdableCounts counts the data the target cannot hold that the sync
// skipped or converted (on-unholdable-*), by kind and action.
type unholdableCounts struct {
	mu sync.Mutex
	n  map[unholdable.Kind]map[unholdable.Action]int64
}

// AddUnholdable counts one skip or conversion (a key of the snapshot, a
// command of the stream, a function library, a module's aux data).
func (t *Tracker) AddUnholdable(k unholdable.Kind, a unholdable.Action) {
	u := &t.unholdable
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.n == nil {
		u.n = map[unholdable.Kind]map[unholdable.Action]int64{}
	}
	if u.n[k] == nil {
		u.n[k] = map[unholdable.Action]int64{}
	}
	u.n[k][a]++
}

// UnholdableCounts returns the skips and conversions so far: every kind
// and action the settings allow other than stop, zero included.
func (t *Tracker) UnholdableCounts() map[string]map[string]int64 {
	u := &t.unholdable
	u.mu.Lock()
	defer u.mu.Unlock()
	out := map[string]map[string]int64{}
	for _, k := range unholdable.Kinds {
		out[string(k)] = map[string]int64{}
		for _, a := range k.Actions()[1:] {
			out[string(k)][string(a)] = u.n[k][a]
		}
	}
	return out
}
