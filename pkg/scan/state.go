package scan

import (
	"encoding/json"
	"fmt"
)

// Phases of a pass, as kept in the checkpoint.
const (
	PhaseCopy  = "copy"  // SCAN of the source: DB and Cursor say where to go on
	PhasePrune = "prune" // SCAN of the target for keys the source no longer has
	PhaseLive  = "live"  // the pass is complete; following notifications
	PhaseDone  = "done"  // the pass is complete; the run without --live ended
)

// stateVersion is the encoding version of State.
const stateVersion = 1

// State is the scan's checkpoint, kept in the target (Options.StateKey) and
// written in the transaction of every batch: what it says is applied is
// applied.
type State struct {
	Version int    `json:"v"`
	RunID   string `json:"source_run_id"` // a SCAN cursor means something only to this server process
	Pass    int    `json:"pass"`
	Phase   string `json:"phase"`
	// DB and Cursor: the SCAN call that continues the pass (Phase copy or
	// prune). Every key returned by the calls before it has been written.
	DB     int    `json:"db"`
	Cursor uint64 `json:"cursor"`
	// Prune: this pass ends with a prune of the target.
	Prune bool `json:"prune"`
	// Copied and Deleted count this pass's keys over restarts; keys of
	// the SCAN page a restart repeats count twice.
	Copied  int64 `json:"copied"`
	Deleted int64 `json:"deleted"`
	// NotifyOriginal is the source's notify-keyspace-events before redferry
	// changed it (nil: unchanged), so a run after a crash restores it.
	NotifyOriginal *string `json:"notify_original,omitempty"`
	UpdatedMs      int64   `json:"updated_ms"`
}

func (s State) marshal() []byte {
	s.Version = stateVersion
	b, err := json.Marshal(s)
	if err != nil {
		panic(fmt.Sprintf("scan: encoding the checkpoint: %v", err)) // plain fields: cannot fail
	}
	return b
}

// ParseState decodes a checkpoint written by Run.
func ParseState(b []byte) (State, error) {
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return State{}, fmt.Errorf("scan: checkpoint is not valid JSON (%w): delete the key to start over", err)
	}
	if s.Version != stateVersion {
		return State{}, fmt.Errorf("scan: checkpoint version %d, this redferry reads %d: use the redferry that wrote it, or delete the key to start over", s.Version, stateVersion)
	}
	return s, nil
}
