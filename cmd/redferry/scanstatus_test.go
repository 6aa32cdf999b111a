package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/status"
)

// scanDaemon is a `redferry scan` running in the background with its status server.
type scanDaemon struct {
	daemon
	token string
}

// startScanDaemon runs `redferry scan args...` with a status server on a
// free port guarded by a token, and waits until it answers.
func startScanDaemon(t *testing.T, args ...string) *scanDaemon {
	t.Helper()
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	d := &scanDaemon{daemon: daemon{out: &lockedBuffer{}, addr: "127.0.0.1:" + strconv.Itoa(port)},
		token: "scan-status-token-0123456789abcdef"}
	d.cmd = exec.Command(binary, append([]string{"scan", "--status-addr", d.addr}, args...)...)
	d.cmd.Env = append(os.Environ(), "REDFERRY_LOG_FORMAT=json", "REDFERRY_STATUS_TOKEN="+d.token)
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.cmd.Process.Kill(); _ = d.cmd.Wait() })
	d.waitFor(t, "the status server to answer", func(status.Report) bool { return true })
	return d
}

// report is GET /status (ok false while the server does not answer).
func (d *scanDaemon) report(t *testing.T) (status.Report, bool) {
	t.Helper()
	code, body := d.get("/status")
	if code != http.StatusOK {
		return status.Report{}, false
	}
	var r status.Report
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("GET /status is not a report: %v\n%s", err, body)
	}
	if r.Scan == nil {
		t.Fatalf("GET /status of a scan has no scan section:\n%s", body)
	}
	return r, true
}

// waitFor polls /status until ok says so (within a minute).
func (d *scanDaemon) waitFor(t *testing.T, what string, ok func(status.Report) bool) status.Report {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		if r, up := d.report(t); up && ok(r) {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited a minute for %s:\n%s", what, d.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// putLimits sends PUT /limits with body and the token auth ("": none).
func (d *scanDaemon) putLimits(t *testing.T, auth, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, "http://"+d.addr+"/limits", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metric is the value of one sample of the /metrics text, e.g.
// `redferry_phase{phase="live"}`; -1 when absent.
func metric(t *testing.T, text, sample string) float64 {
	t.Helper()
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s: %q is not a number", sample, v)
			}
			return f
		}
	}
	return -1
}

// TestScanStatusServer runs `redferry scan --live` with a rate limit and
// the status server of `redferry sync`: PUT /limits is refused without the
// token; with it, a rate of 1 key/s stalls the pass (the keys copied over
// the next seconds stay far below what the old rate copies), and lifting
// the limit lets the pass complete and go live. /status, /metrics and
// `redferry status` show the scan's progress all along; the target ends
// equal to the source.
func TestScanStatusServer(t *testing.T) {
	src := redistest.Start(t, redistest.Redis80, redistest.Options{})
	dst := redistest.Start(t, redistest.Valkey91, redistest.Options{})
	fillStrings(t, src, 2, 3000)
	total := totalKeys(t, src)
	// 200 keys/s: the pass would take 30 s, so it is caught early.
	d := startScanDaemon(t, "--source", src.URL(), "--target", dst.URL(), "--live", "--rate", "200")

	r := d.waitFor(t, "the pass to copy a first key", func(r status.Report) bool { return r.Scan.PassKeysCopied > 0 })
	if r.Phase != status.PhaseScanning || r.Scan.Pass != 1 || r.Scan.PassPhase != "copy" || r.Scan.SourceKeys != total {
		t.Fatalf("a scan under way: phase %s, %+v; want scanning, pass 1, copy, %d source keys", r.Phase, *r.Scan, total)
	}
	if r.Limits == nil || r.Limits.MaxOpsPerSecond != 200 {
		t.Fatalf("/status limits = %+v, want 200 keys/s from --rate", r.Limits)
	}
	code, metrics := d.get("/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics = %d", code)
	}
	for sample, want := range map[string]float64{
		`redferry_phase{phase="scanning"}`:        1,
		`redferry_scan_pass`:                      1,
		`redferry_scan_pass_phase{phase="copy"}`:  1,
		`redferry_scan_source_keys`:               float64(total),
		`redferry_max_ops_per_second`:             200,
		`redferry_offset_applied`:                 -1, // a sync's, not a scan's
		`redferry_scan_pass_phase{phase="live"}`:  0,
		`redferry_phase{phase="snapshot-replay"}`: -1,
	} {
		if got := metric(t, metrics, sample); got != want {
			t.Errorf("%s = %v, want %v", sample, got, want)
		}
	}
	if got := metric(t, metrics, "redferry_scan_keys_copied_total"); got <= 0 || got > float64(total) {
		t.Errorf("redferry_scan_keys_copied_total = %v, want between 1 and %d", got, total)
	}

	// Changes need the token: refused without it and with another one.
	for _, auth := range []string{"", "not-the-token-0123456789abcdef"} {
		if code, body := d.putLimits(t, auth, `{"max_ops_per_second": 1}`); code != http.StatusUnauthorized {
			t.Fatalf("PUT /limits with token %q = %d %s, want 401", auth, code, body)
		}
	}
	if r, _ := d.report(t); r.Limits.MaxOpsPerSecond != 200 {
		t.Fatalf("a refused PUT /limits changed the rate to %d", r.Limits.MaxOpsPerSecond)
	}

	// 1 key/s: the pass stalls. Within the next 3 s it copies the page in
	// flight and a few keys; at 200 keys/s it would copy some 600.
	if code, body := d.putLimits(t, d.token, `{"max_ops_per_second": 1}`); code != http.StatusOK {
		t.Fatalf("PUT /limits with the token = %d %s", code, body)
	}
	before, _ := d.report(t)
	time.Sleep(3 * time.Second)
	stalled, _ := d.report(t)
	const bound = 120
	t.Logf("at 1 key/s the pass went from %d to %d keys copied in 3 s (of %d)", before.Scan.PassKeysCopied, stalled.Scan.PassKeysCopied, total)
	if n := stalled.Scan.PassKeysCopied - before.Scan.PassKeysCopied; n > bound {
		t.Fatalf("at 1 key/s the pass copied %d keys in 3 s, want at most %d: the new rate did not apply", n, bound)
	}
	if stalled.Phase != status.PhaseScanning || stalled.Limits.MaxOpsPerSecond != 1 {
		t.Fatalf("stalled: phase %s, limits %+v; want scanning at 1 key/s", stalled.Phase, stalled.Limits)
	}
	if out, code := run(t, time.Minute, "status", "--status-addr", d.addr); code != 0 ||
		!strings.Contains(out, "scanning") || !strings.Contains(out, "1 keys/s") || !strings.Contains(out, "source keys copied") {
		t.Fatalf("redferry status of a stalled scan: exit %d:\n%s", code, out)
	}

	// No limit: the pass completes and the scan goes live.
	if code, body := d.putLimits(t, d.token, `{"max_ops_per_second": 0}`); code != http.StatusOK {
		t.Fatalf("PUT /limits lifting the rate = %d %s", code, body)
	}
	live := d.waitFor(t, "the scan to go live", func(r status.Report) bool { return r.Phase == status.PhaseLive })
	if live.Scan.PassKeysCopied < total || live.Scan.PassPhase != "live" {
		t.Fatalf("live after a pass that copied %d of %d keys (%+v)", live.Scan.PassKeysCopied, total, *live.Scan)
	}
	if code, body := d.get("/readyz"); code != http.StatusOK {
		t.Fatalf("GET /readyz of a live scan = %d %s", code, body)
	}
	_, metrics = d.get("/metrics")
	for sample, want := range map[string]float64{
		`redferry_phase{phase="live"}`:           1,
		`redferry_scan_pass_phase{phase="live"}`: 1,
		`redferry_streaming_ready`:               1,
		`redferry_max_ops_per_second`:            0,
	} {
		if got := metric(t, metrics, sample); got != want {
			t.Errorf("%s = %v, want %v", sample, got, want)
		}
	}
	if got := metric(t, metrics, "redferry_scan_pass_keys_copied"); got < float64(total) {
		t.Errorf("redferry_scan_pass_keys_copied = %v, want >= %d", got, total)
	}
	if got := metric(t, metrics, "redferry_throttled_seconds_total"); got <= 0 {
		t.Errorf("redferry_throttled_seconds_total = %v: the scan never waited for its rate", got)
	}

	// Live: a key written now reaches the target, and the dirty keys go back to none.
	sc := src.Client()
	defer sc.Close()
	if err := sc.Set(t.Context(), "after-live", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	d.waitFor(t, "the change to be copied", func(r status.Report) bool { return r.Scan.Events > 0 && r.Scan.DirtyKeys == 0 })
	out, code := run(t, time.Minute, "status", "--status-addr", d.addr)
	if code != 0 || !strings.Contains(out, "live") || !strings.Contains(out, "yes (live") || strings.Contains(out, "offset") {
		t.Fatalf("redferry status of a live scan: exit %d:\n%s", code, out)
	}
	t.Logf("redferry status:\n%s", out)

	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	if err := d.cmd.Wait(); err != nil {
		t.Fatalf("scan after SIGTERM: %v\n%s", err, d.out.String())
	}
	assertScanEqual(t, src, dst)
}
