package rollback

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redferry/redferry/pkg/status"
)

// TestStateFile: the phase a restart runs comes back as saved; a missing
// file is the forward phase; a damaged or unknown one stops with what to do.
func TestStateFile(t *testing.T) {
	for _, tc := range []struct {
		name  string
		file  string // "" : no file; else its content
		phase string
		err   string
	}{
		{name: "missing", phase: status.RollbackForward},
		{name: "reverse", file: `{"phase":"reverse","target_replid":"x","target_offset":7}`, phase: status.RollbackReverse},
		{name: "rolled back", file: `{"phase":"rolled-back"}`, phase: status.RollbackRolledBack},
		{name: "damaged", file: `{"phase":`, err: "is damaged"},
		{name: "unknown phase", file: `{"phase":"sideways"}`, err: `names phase "sideways"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.file != "" {
				if err := os.WriteFile(filepath.Join(dir, stateFile), []byte(tc.file), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			st, err := loadState(dir)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("loadState: %v, want an error saying %q", err, tc.err)
				}
				return
			}
			if err != nil || st.Phase != tc.phase {
				t.Fatalf("loadState: phase %q, %v; want %q", st.Phase, err, tc.phase)
			}
		})
	}
}

func TestStateSavedWhole(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	want := State{Phase: status.RollbackReverse, Path: PathCreatedBacklog, SourceReplID: "s", SourceOffset: 10,
		TargetReplID: "t", TargetOffset: 20}
	if err := saveState(dir, want); err != nil {
		t.Fatal(err)
	}
	got, err := loadState(dir)
	if err != nil || got != want {
		t.Fatalf("loaded %+v, %v; saved %+v", got, err, want)
	}
}
