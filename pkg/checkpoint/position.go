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
