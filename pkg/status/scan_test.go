package status

import (
	"encoding/json"
	"strings"
	"testing"
)

// A scan's tracker serves its progress: /status under "scan", /metrics as
// redferry_scan_* without the replication metrics (which mean nothing for a
// scan), /readyz ready once live.
func TestScanTracker(t *testing.T) {
	tests := []struct {
		name      string
		phase     Phase
		report    ScanReport
		ready     bool
		metrics   []string // lines /metrics must have
		noMetrics []string // prefixes it must not have
	}{
		{
			name: "copying", phase: PhaseScanning,
			report: ScanReport{Pass: 1, PassPhase: "copy", SourceKeys: 1000, PassKeysCopied: 250, KeysScanned: 260, KeysCopied: 250, BigKeysCopied: 2},
			metrics: []string{`redferry_phase{phase="scanning"} 1`, `redferry_phase{phase="live"} 0`, "redferry_scan_pass 1",
				`redferry_scan_pass_phase{phase="copy"} 1`, `redferry_scan_pass_phase{phase="live"} 0`, "redferry_scan_source_keys 1000",
				"redferry_scan_pass_keys_copied 250", "redferry_scan_keys_scanned_total 260", "redferry_scan_keys_copied_total 250",
				"redferry_scan_big_keys_copied_total 2", "redferry_streaming_ready 0"},
			noMetrics: []string{"redferry_offset_", "redferry_lag_", "redferry_snapshot_", "redferry_spool_bytes", `redferry_phase{phase="streaming"}`},
		},
		{
			name: "live", phase: PhaseLive,
			report: ScanReport{Pass: 2, PassPhase: "live", SourceKeys: 1000, PassKeysCopied: 1003, KeysCopied: 2003, KeysDeleted: 4, Events: 17, DirtyKeys: 3, Rescans: 1},
			ready:  true,
			metrics: []string{`redferry_phase{phase="live"} 1`, `redferry_scan_pass_phase{phase="live"} 1`, "redferry_scan_pass 2",
				"redferry_scan_keys_deleted_total 4", "redferry_scan_events_total 17", "redferry_scan_dirty_keys 3",
				"redferry_scan_rescans_total 1", "redferry_scan_topology_changes_total 0", "redferry_streaming_ready 1"},
			noMetrics: []string{"redferry_offset_"},
		},
		{
			name: "stopped after a run without --live", phase: PhaseStopped,
			report:  ScanReport{Pass: 1, PassPhase: "done", SourceKeys: 10, PassKeysCopied: 10, KeysCopied: 10},
			metrics: []string{`redferry_phase{phase="stopped"} 1`, `redferry_scan_pass_phase{phase="done"} 1`, "redferry_streaming_ready 0"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := NewTracker("redis://a:1", "redis://b:2")
			tr.SetScan(tc.report)
			tr.SetPhase(tc.phase)
			h := NewHandler(tr, HandlerOptions{})

			var r Report
			if err := json.Unmarshal(get(t, h, "GET", "/status", "").Body.Bytes(), &r); err != nil {
				t.Fatal(err)
			}
			if r.Scan == nil || *r.Scan != tc.report || r.Phase != tc.phase {
				t.Fatalf("GET /status: phase %s, scan %+v; want %s, %+v", r.Phase, r.Scan, tc.phase, tc.report)
			}
			body := get(t, h, "GET", "/metrics", "").Body.String()
			for _, want := range tc.metrics {
				if !strings.Contains(body, "\n"+want+"\n") {
					t.Errorf("/metrics lacks %s", want)
				}
			}
			for _, bad := range tc.noMetrics {
				if strings.Contains(body, "\n"+bad) {
					t.Errorf("/metrics of a scan has %s…", bad)
				}
			}
			rec := get(t, h, "GET", "/readyz", "")
			if got := rec.Code == 200; got != tc.ready {
				t.Errorf("GET /readyz = %d %s, want ready %v", rec.Code, rec.Body, tc.ready)
			}
		})
	}
}

// A sync's tracker (no SetScan) keeps its replication metrics and has no scan ones.
func TestSyncTrackerHasNoScanMetrics(t *testing.T) {
	tr := NewTracker("a", "b")
	tr.SetPhase(PhaseStreaming)
	body := get(t, NewHandler(tr, HandlerOptions{}), "GET", "/metrics", "").Body.String()
	if strings.Contains(body, "\nredferry_scan_") || !strings.Contains(body, "\nredferry_offset_applied 0\n") {
		t.Fatalf("/metrics of a sync:\n%s", body)
	}
	if strings.Contains(get(t, NewHandler(tr, HandlerOptions{}), "GET", "/status", "").Body.String(), `"scan"`) {
		t.Fatal("/status of a sync has a scan section")
	}
}
