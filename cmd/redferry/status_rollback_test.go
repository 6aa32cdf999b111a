package main

import (
	"testing"

	"github.com/redferry/redferry/pkg/status"
)

// TestRollbackKeepsTheWatchdog: while the reverse link runs, or once rolled
// back, the daemon is alive though its forward sync stopped; a reverse
// link that stopped is not.
func TestRollbackKeepsTheWatchdog(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rb    *status.RollbackReport
		alive bool
	}{
		{"no rollback controller", nil, false},
		{"forward", &status.RollbackReport{Phase: status.RollbackForward}, false},
		{"reverse starting", &status.RollbackReport{Phase: status.RollbackReverse}, true},
		{"reverse streaming", &status.RollbackReport{Phase: status.RollbackReverse,
			Reverse: &status.ReverseReport{Phase: status.PhaseStreaming}}, true},
		{"reverse stopped", &status.RollbackReport{Phase: status.RollbackReverse,
			Reverse: &status.ReverseReport{Phase: status.PhaseStopped}}, false},
		{"rolled back", &status.RollbackReport{Phase: status.RollbackRolledBack}, true},
	} {
		if got := rollbackAlive(tc.rb); got != tc.alive {
			t.Errorf("%s: alive %v, want %v", tc.name, got, tc.alive)
		}
	}
}
