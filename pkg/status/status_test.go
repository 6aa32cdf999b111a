package status

import (
	"encoding/json"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

func TestLagFollowsReceivedAndApplied(t *testing.T) {
	tr := NewTracker("redis://a:1", "redis://b:2")
	tr.SetPhase(PhaseStreaming)
	tr.SetReceived(100)
	time.Sleep(150 * time.Millisecond)
	tr.SetReceived(250)

	r := tr.Report()
	if r.LagBytes != 250 {
		t.Fatalf("lag bytes = %d, want 250 (nothing applied)", r.LagBytes)
	}
	if r.LagSeconds < 0.1 {
		t.Fatalf("lag seconds = %v, want >= 0.1 (oldest unapplied byte is 150ms old)", r.LagSeconds)
	}
	tr.SetApplied(100)
	r = tr.Report()
	if r.LagBytes != 150 || r.LagSeconds >= 0.1 {
		t.Fatalf("after applying 100: lag = %d bytes, %vs; want 150 bytes, < 0.1s", r.LagBytes, r.LagSeconds)
	}
	tr.SetApplied(250)
	r = tr.Report()
	if r.LagBytes != 0 || r.LagSeconds != 0 {
		t.Fatalf("caught up: lag = %d bytes, %vs; want 0", r.LagBytes, r.LagSeconds)
	}
}

func TestStatusEndpointServesJSON(t *testing.T) {
	tr := NewTracker("redis://a:1", "redis://b:2")
	tr.SetPhase(PhaseSnapshotReplay)
	tr.SetReplID("abc")
	tr.AddKeys(7)
	rec := httptest.NewRecorder()
	NewHandler(tr, HandlerOptions{}).ServeHTTP(rec, httptest.NewRequest("GET", "/status", nil))
	var r Report
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
		t.Fatalf("GET /status is not JSON: %v\n%s", err, rec.Body)
	}
	if r.Phase != PhaseSnapshotReplay || r.ReplID != "abc" || r.KeysApplied != 7 {
		t.Fatalf("GET /status = %+v", r)
	}
}

func TestCountCommandFoldsCaseAndBoundsNames(t *testing.T) {
	tr := NewTracker("a", "b")
	tr.CountCommand([]byte("SET"))
	tr.CountCommand([]byte("set"))
	tr.CountCommand([]byte("Incr"))
	for i := 0; i < maxCommandNames+10; i++ {
		tr.CountCommand([]byte("cmd" + strconv.Itoa(i)))
	}
	got := tr.CommandCounts()
	if got["set"] != 2 || got["incr"] != 1 {
		t.Fatalf("counts = set:%d incr:%d, want 2 and 1", got["set"], got["incr"])
	}
	if len(got) > maxCommandNames+1 || got["other"] == 0 {
		t.Fatalf("%d names kept (other=%d): the name set is not bounded", len(got), got["other"])
	}
}
