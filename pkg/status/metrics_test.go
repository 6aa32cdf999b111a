package status

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/redferry/redferry/pkg/unholdable"
)

func get(t *testing.T, h http.Handler, method, path, body string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader(body)))
	return rec
}

func TestMetricsExportTheTracker(t *testing.T) {
	tr := NewTracker("redis://a:1", "redis://b:2")
	tr.SetPhase(PhaseStreaming)
	tr.SetReceived(1000)
	tr.SetApplied(400)
	tr.CountCommand([]byte("SET"))
	tr.CountCommand([]byte("set"))
	tr.AddTargetErrors(3)
	tr.AddReconnect()
	tr.AddRejectedSkipped(SkippedByOperator, 1)
	tr.AddRejectedSkipped(SkippedByOnTargetError, 2)
	tr.AddRejectedRetried(4)
	tr.SetSpoolBytes(4096)
	tr.AddUnholdable(unholdable.FieldTTL, unholdable.Convert)
	tr.AddUnholdable(unholdable.FieldTTL, unholdable.Convert)
	tr.AddUnholdable(unholdable.Module, unholdable.Skip)
	rec := get(t, NewHandler(tr, HandlerOptions{}), "GET", "/metrics", "")
	if rec.Code != 200 {
		t.Fatalf("GET /metrics = %d", rec.Code)
	}
	body := rec.Body.String()
	for _, want := range []string{
		"redferry_offset_received 1000",
		"redferry_offset_applied 400",
		"redferry_lag_bytes 600",
		`redferry_commands_applied_total{command="set"} 2`,
		"redferry_target_errors_total 3",
		"redferry_reconnects_total 1",
		`redferry_rejected_commands_skipped_total{reason="operator"} 1`,
		`redferry_rejected_commands_skipped_total{reason="on-target-error"} 2`,
		"redferry_rejected_commands_retried_total 4",
		"redferry_spool_bytes 4096",
		`redferry_unholdable_total{action="convert",kind="field-ttl"} 2`,
		`redferry_unholdable_total{action="skip",kind="module"} 1`,
		`redferry_unholdable_total{action="skip",kind="functions"} 0`,
		`redferry_unholdable_total{action="convert",kind="idmp"} 0`,
		`redferry_phase{phase="streaming"} 1`,
		`redferry_phase{phase="snapshot-replay"} 0`,
		"redferry_lag_seconds ",
		"go_goroutines ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestReadyzFollowsPhaseAndLag(t *testing.T) {
	tr := NewTracker("a", "b")
	tr.SetReadyMaxLag(50 * time.Millisecond)
	h := NewHandler(tr, HandlerOptions{})
	if rec := get(t, h, "GET", "/readyz", ""); rec.Code != 503 || !strings.Contains(rec.Body.String(), "not streaming") {
		t.Fatalf("/readyz while starting = %d %q, want 503 naming the phase", rec.Code, rec.Body)
	}
	tr.SetPhase(PhaseStreaming)
	if rec := get(t, h, "GET", "/readyz", ""); rec.Code != 200 {
		t.Fatalf("/readyz streaming without lag = %d %q", rec.Code, rec.Body)
	}
	tr.SetReceived(10)
	time.Sleep(80 * time.Millisecond)
	if rec := get(t, h, "GET", "/readyz", ""); rec.Code != 503 || !strings.Contains(rec.Body.String(), "ready-max-lag") {
		t.Fatalf("/readyz with lag above the bound = %d %q, want 503", rec.Code, rec.Body)
	}
	tr.SetApplied(10)
	if rec := get(t, h, "GET", "/readyz", ""); rec.Code != 200 {
		t.Fatalf("/readyz caught up = %d %q", rec.Code, rec.Body)
	}
	if rec := get(t, h, "GET", "/healthz", ""); rec.Code != 200 {
		t.Fatalf("/healthz = %d", rec.Code)
	}
}

func TestLogLevelChangesAtRunTime(t *testing.T) {
	lvl := zap.NewAtomicLevelAt(zapcore.InfoLevel)
	h := NewHandler(NewTracker("a", "b"), HandlerOptions{Level: &lvl})
	// Over loopback: without a token, changes are accepted there only.
	if code, _, body := send(t, h, nil, "PUT", "/loglevel", `{"level":"debug"}`, ""); code != 200 {
		t.Fatalf("PUT /loglevel = %d %s", code, body)
	}
	if lvl.Level() != zapcore.DebugLevel {
		t.Fatalf("level = %s after PUT debug", lvl.Level())
	}
	if rec := get(t, h, "GET", "/loglevel", ""); !strings.Contains(rec.Body.String(), "debug") {
		t.Fatalf("GET /loglevel = %s", rec.Body)
	}
}
