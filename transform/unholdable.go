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
	a, err := u.action(k, what, key, offset)
	if err == nil {
		u.Recorder.Note(k, a, what, key, offset)
	}
	return a, err
}

// action is decide without counting.
func (u Unholdable) action(k unholdable.Kind, what string, key []byte, offset int64) (unholdable.Action, error) {
	a := u.Policy.Action(k)
	if a == unholdable.Stop {
		return a, fmt.Errorf("%w; %s", unsupported(what, key, offset), k.Hint())
	}
	return a, nil
}

// heldNote is a skip or conversion not yet counted: the key may go by
// RESTORE after all (Restorer), and then nothing was skipped.
type heldNote struct {
	kind   unholdable.Kind
	action unholdable.Action
	what   string
	key    []byte
	offset int64
}

// decide is Unholdable.decide, counting at once or, while the Restorer
// holds the key's notes (holdNotes), once the key turns out rebuilt.
func (r *Rebuilder) decide(k unholdable.Kind, what string, key []byte, offset int64) (unholdable.Action, error) {
	if !r.holdNotes {
		return r.opt.Unholdable.decide(k, what, key, offset)
	}
	a, err := r.opt.Unholdable.action(k, what, key, offset)
	if err == nil {
		r.heldNotes = append(r.heldNotes, heldNote{k, a, what, append([]byte(nil), key...), offset})
	}
	return a, err
}

// releaseNotes counts the held notes (count) or drops them, and stops holding.
func (r *Rebuilder) releaseNotes(count bool) {
	for _, n := range r.heldNotes {
		if count {
			r.opt.Unholdable.Recorder.Note(n.kind, n.action, n.what, n.key, n.offset)
		}
	}
	r.heldNotes, r.holdNotes = r.heldNotes[:0], false
}
