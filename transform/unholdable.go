package transform

import (
	"fmt"

	"github.com/redferry/redferry/pkg/unholdable"
)

// Unholdable is what to do with data the target cannot hold (functions on
// 6.x, hash field TTLs, module values, stream idempotent ids): the
// on-unholdable-* settings, and where skips and conversions are counted.
type Unholdable struct {
	Policy   unholdable.Policy
	Recorder *unholdable.Recorder // nil: counted and logged nowhere
}

// decide returns the policy's action for data of kind k that the target
// cannot hold. For unholdable.Stop it returns an error wrapping
// ErrUnsupported that names what, the key (nil: none) and the source
// offset, and the setting that lets the sync go on; a skip or conversion
// is counted and logged.
func (u Unholdable) decide(k unholdable.Kind, what string, key []byte, offset int64) (unholdable.Action, error) {
	a := u.Policy.Action(k)
	if a == unholdable.Stop {
		return a, fmt.Errorf("%w; %s", unsupported(what, key, offset), k.Hint())
	}
	u.Recorder.Note(k, a, what, key, offset)
	return a, nil
}
