// Package rollback keeps the old source of a migration current after the
// cutover and switches back to it without a full sync.
//
// A rollback-ready cutover (redferry cutover --keep-rollback) stops the
// forward sync (old source → target) at the cutover point and starts a
// reverse link (target → old source): another syncer.Syncer that starts at
// the target's offset at the cutover (syncer.Options.StartAt) instead of a
// full sync, and keeps its checkpoint in the old source
// (checkpoint.ReverseKey). redferry rollback pauses the target's writes,
// waits until the old source has applied them all, stops the reverse link,
// and records in the old source where the forward sync resumes
// (checkpoint.RolledBackKey): past the reverse link's own writes, which a
// forward sync must not copy back to the target.
//
// The forward link is always stopped before the reverse link applies
// anything, so the two never echo each other's writes.
package rollback

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/redferry/redferry/pkg/fsutil"
	"github.com/redferry/redferry/pkg/status"
)

// stateFile, in the sync's state dir, says which link a restarted redferry
// runs: the forward sync, or the reverse link of a rollback-ready cutover.
const stateFile = "rollback.json"

// State is what a restart needs to know about a rollback-ready migration.
type State struct {
	Phase string `json:"phase"` // status.Rollback*
	Path  string `json:"path,omitempty"`
	Cost  string `json:"cost,omitempty"`
	// The cutover point (see status.RollbackReport).
	SourceReplID string    `json:"source_replid,omitempty"`
	SourceOffset int64     `json:"source_offset"`
	TargetReplID string    `json:"target_replid,omitempty"`
	TargetOffset int64     `json:"target_offset"`
	CutoverAt    time.Time `json:"cutover_at,omitzero"`
	// After a rollback.
	RolledBackAt     int64     `json:"rolled_back_at_target_offset,omitempty"`
	ResumeOffset     int64     `json:"forward_resume_offset,omitempty"`
	RolledBackAtTime time.Time `json:"rolled_back_at,omitzero"`
}

// loadState reads the state file of dir; a missing file is the forward phase.
func loadState(dir string) (State, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return State{Phase: status.RollbackForward}, nil
	}
	if err != nil {
		return State{}, fmt.Errorf("reading the rollback state: %w", err)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return State{}, fmt.Errorf("the rollback state %s is damaged: %w (restore it, or remove it to run the forward sync)",
			filepath.Join(dir, stateFile), err)
	}
	switch st.Phase {
	case status.RollbackForward, status.RollbackReverse, status.RollbackRolledBack:
	default:
		return State{}, fmt.Errorf("the rollback state %s names phase %q, not one of forward, reverse, rolled-back",
			filepath.Join(dir, stateFile), st.Phase)
	}
	return st, nil
}

// saveState makes st durable before it is acted upon.
func saveState(dir string, st State) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("saving the rollback state: %w", err)
	}
	if err := fsutil.WriteAtomic(dir, stateFile, append(b, '\n')); err != nil {
		return fmt.Errorf("saving the rollback state: %w", err)
	}
	return nil
}
