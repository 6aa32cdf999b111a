package checkpoint

import (
	"encoding/json"
	"fmt"
)

// Position reads where an encoded State stands (its phase, offset and
// snapshot position) without validating the rest: for a sink that orders
// the checkpoints it writes, which must not refuse one the syncer made.
func Position(b []byte) (phase string, offset, snapshotPos int64, err error) {
	var w wire
	if err := json.Unmarshal(b, &w); err != nil {
		return "", 0, 0, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if w.Phase != PhaseSnapshotReplay && w.Phase != PhaseStreaming {
		return "", 0, 0, fmt.Errorf("%w: phase %q", ErrCorrupt, w.Phase)
	}
	return w.Phase, w.Offset, w.SnapshotPos, nil
}

// LowerStream returns b (an encoded State) with its stream offset lowered
// to offset when it is a streaming State past offset, and whether it was
// lowered; a State at or below offset, or in snapshot replay (whose
// position is a key of the snapshot, not a stream offset), is returned as
// is. Everything else in the State (replid, db, rejected commands, time)
// is kept: a sync lowers its position past a fork of the source's history
// where only PINGs and REPLCONFs lie, which change none of it.
func LowerStream(b []byte, offset int64) ([]byte, bool, error) {
	st, err := Unmarshal(b)
	if err != nil {
		return nil, false, err
	}
	low, lowered, err := st.LowerStream(offset)
	if err != nil || !lowered {
		return b, false, err
	}
	return low.Marshal(), true, nil
}

// LowerStream is st with its stream offset lowered to offset when st is
// a streaming State past offset, and whether it was (see the function
// LowerStream).
func (st State) LowerStream(offset int64) (State, bool, error) {
	if st.Phase != PhaseStreaming || st.Offset <= offset {
		return st, false, nil
	}
	if offset < 0 {
		return st, false, fmt.Errorf("%w: lowering the stream offset %d to a negative offset %d", ErrInvalid, st.Offset, offset)
	}
	st.Offset = offset
	return st, true, nil
}
