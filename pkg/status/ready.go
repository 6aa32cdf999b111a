package status

import (
	"fmt"
	"time"
)

// SetReadyMaxLag sets the lag under which a streaming sync is ready
// (GET /readyz); 0 means streaming alone is enough.
func (t *Tracker) SetReadyMaxLag(d time.Duration) { t.readyMaxLag.Store(int64(d)) }

// Ready reports whether the sync is streaming with a lag below the bound
// (a scan: its pass is complete and it follows notifications, --live), and
// when not, why (for /readyz and the systemd status line).
func (t *Tracker) Ready() (bool, string) {
	r := t.Report()
	if s := r.Scan; s != nil {
		if r.Phase != PhaseLive {
			return false, fmt.Sprintf("not live yet: phase %s, pass %d (%s)", r.Phase, s.Pass, s.PassPhase)
		}
		return true, fmt.Sprintf("live, %d changed keys waiting to be copied again", s.DirtyKeys)
	}
	if rb := r.Rollback; r.Phase != PhaseStreaming && rb != nil && rb.Phase == RollbackReverse && rb.Reverse != nil {
		// The forward sync stopped at a rollback-ready cutover: the reverse
		// link is the sync now.
		r.Phase, r.LagBytes, r.LagSeconds = rb.Reverse.Phase, rb.Reverse.LagBytes, rb.Reverse.LagSeconds
		if r.Phase != PhaseStreaming {
			return false, fmt.Sprintf("reverse link not streaming yet: phase %s", r.Phase)
		}
	}
	if r.Phase != PhaseStreaming {
		return false, fmt.Sprintf("not streaming yet: phase %s", r.Phase)
	}
	maxLag := time.Duration(t.readyMaxLag.Load())
	if maxLag > 0 && r.LagSeconds > maxLag.Seconds() {
		return false, fmt.Sprintf("lag %.1fs is above ready-max-lag %s", r.LagSeconds, maxLag)
	}
	return true, fmt.Sprintf("streaming, lag %d bytes, %.1fs", r.LagBytes, r.LagSeconds)
}
