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
	// changed it (nil: unchanged), so a run after a crash restores it; a
	// cluster source's, per master address, in NotifyOriginals.
	NotifyOriginal  *string           `json:"notify_original,omitempty"`
	NotifyOriginals map[string]string `json:"notify_originals,omitempty"`

	// A cluster source: the masters of the pass (Done: SCANned to the end
	// under the slots named), and Node, the id of the master whose SCAN DB
	// and Cursor continue. A master whose slots grew or that is new (a
	// failover, a slot migration) is SCANned again: its new keys came from
	// masters perhaps already done.
	Masters []MasterState `json:"masters,omitempty"`
	Node    string        `json:"node,omitempty"`
	// A cluster target: the index of the target master (ordered by first
	// slot) whose SCAN DB and Cursor continue the prune.
	TargetNode int   `json:"target_node,omitempty"`
	UpdatedMs  int64 `json:"updated_ms"`
}

// MasterState is a master of a cluster source, in a pass.
type MasterState struct {
	ID    string `json:"id"`
	Addr  string `json:"addr"`
	RunID string `json:"run_id"` // its cursor means something only to this process
	Slots string `json:"slots"`  // as server.ClusterNode.SlotsString
	Done  bool   `json:"done"`
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
