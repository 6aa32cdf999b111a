package status

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestShardsReportAndMetrics: a cluster source's tracker reports each shard
// and their totals, and /metrics labels each shard.
func TestShardsReportAndMetrics(t *testing.T) {
	total := NewTracker("cluster", "target")
	a, b := NewTracker("a", "target"), NewTracker("b", "target")
	a.SetPhase(PhaseStreaming)
	a.SetReceived(1000)
	a.SetApplied(900)
	b.SetPhase(PhaseSnapshotReplay)
	b.SetReceived(50)
	b.SetApplied(50)
	b.AddReconnect()
	total.SetShard("a", a)
	total.SetShard("b", b)

	r := total.Report()
	if len(r.Shards) != 2 || r.Shards["a"].OffsetApplied != 900 || r.Shards["b"].Phase != PhaseSnapshotReplay {
		t.Fatalf("shards reported as %+v", r.Shards)
	}
	if r.Phase != PhaseSnapshotReplay {
		t.Errorf("total phase %s, want the least advanced shard's (snapshot-replay)", r.Phase)
	}
	if r.OffsetReceived != 1050 || r.OffsetApplied != 950 || r.LagBytes != 100 || r.Reconnects != 1 {
		t.Errorf("totals: received %d applied %d lag %d reconnects %d; want 1050, 950, 100, 1",
			r.OffsetReceived, r.OffsetApplied, r.LagBytes, r.Reconnects)
	}
	if ok, _ := total.Ready(); ok {
		t.Error("ready while a shard still replays its snapshot")
	}

	rec := httptest.NewRecorder()
	NewHandler(total, HandlerOptions{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`redferry_shard_offset_applied{shard="a"} 900`,
		`redferry_shard_lag_bytes{shard="a"} 100`,
		`redferry_shard_phase{phase="snapshot-replay",shard="b"} 1`,
		`redferry_shard_reconnects_total{shard="b"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
