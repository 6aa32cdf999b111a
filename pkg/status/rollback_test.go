package status

import (
	"strings"
	"testing"
)

// TestReadyFollowsTheReverseLink: once the forward sync stopped at a
// rollback-ready cutover, /readyz answers for the reverse link; rolled back,
// nothing streams.
func TestReadyFollowsTheReverseLink(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rb    *RollbackReport
		ready bool
		says  string
	}{
		{"forward stopped, no rollback", nil, false, "phase stopped"},
		{"reverse link streaming", &RollbackReport{Phase: RollbackReverse, Reverse: &ReverseReport{Phase: PhaseStreaming, LagBytes: 3}}, true, "lag 3 bytes"},
		{"reverse link connecting", &RollbackReport{Phase: RollbackReverse, Reverse: &ReverseReport{Phase: PhaseHandshake}}, false, "reverse link not streaming"},
		{"rolled back", &RollbackReport{Phase: RollbackRolledBack}, false, "phase stopped"},
	} {
		tr := NewTracker("a", "b")
		tr.SetPhase(PhaseStopped)
		if tc.rb != nil {
			rb := tc.rb
			tr.SetRollback(func() *RollbackReport { return rb })
		}
		ready, why := tr.Ready()
		if ready != tc.ready || !strings.Contains(why, tc.says) {
			t.Errorf("%s: ready %v (%s), want %v saying %q", tc.name, ready, why, tc.ready, tc.says)
		}
	}
}
