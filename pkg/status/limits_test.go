package status

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/redferry/redferry/pkg/ratelimit"
)

// GET /limits shows the rate limits, PUT /limits changes them with the
// status token (and only with it); /status and /metrics show them, and what
// the filters left out.
func TestLimitsEndpoint(t *testing.T) {
	const token = "0123456789abcdef0123456789abcdef"
	tr := NewTracker("a", "b")
	lim := ratelimit.New(1000, 0)
	srv := httptest.NewServer(NewHandler(tr, HandlerOptions{Token: token, Limits: lim}))
	defer srv.Close()
	do := func(method, path, auth, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
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
	steps := []struct {
		method, auth, body string
		wantCode           int
		wantOps, wantBytes int64
	}{
		{"GET", "", "", 200, 1000, 0},
		{"PUT", "", `{"max_ops_per_second": 5}`, 401, 1000, 0},
		{"PUT", "wrong-token-wrong-token", `{"max_ops_per_second": 5}`, 401, 1000, 0},
		{"PUT", token, `{"max_bytes_per_second": 65536}`, 200, 1000, 65536}, // ops kept
		{"PUT", token, `{"max_ops_per_second": 0}`, 200, 0, 65536},          // lifted
		{"PUT", token, `{"max_ops_per_second": -1}`, 400, 0, 65536},
		{"PUT", token, `{"max_ops": 1}`, 400, 0, 65536},
		{"DELETE", token, ``, 405, 0, 65536},
	}
	for _, s := range steps {
		code, body := do(s.method, "/limits", s.auth, s.body)
		if code != s.wantCode {
			t.Fatalf("%s /limits %s: %d %s, want %d", s.method, s.body, code, body, s.wantCode)
		}
		if ops, bytes := lim.Get(); ops != s.wantOps || bytes != s.wantBytes {
			t.Fatalf("after %s /limits %s: limits %d, %d; want %d, %d", s.method, s.body, ops, bytes, s.wantOps, s.wantBytes)
		}
	}

	tr.AddFilteredKey("key")
	tr.AddFilteredKey("key")
	tr.AddFilteredCommand("db", false)
	tr.AddFilteredCommand("key", true)
	_, body := do("GET", "/status", "", "")
	var rep Report
	if err := json.Unmarshal([]byte(body), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Limits == nil || rep.Limits.MaxBytesPerSecond != 65536 || rep.Filtered == nil || rep.Filtered.Keys["key"] != 2 ||
		rep.Filtered.Commands["db"] != 1 || rep.Filtered.CommandsNarrowed["key"] != 1 {
		t.Fatalf("GET /status does not show the limits and the filtered counts: %s", body)
	}
	_, metrics := do("GET", "/metrics", "", "")
	for _, want := range []string{"redferry_max_bytes_per_second 65536", "redferry_max_ops_per_second 0",
		`redferry_filtered_keys_total{reason="key"} 2`, `redferry_filtered_commands_total{action="dropped",reason="db"} 1`,
		`redferry_filtered_commands_total{action="narrowed",reason="key"} 1`, "redferry_throttled_seconds_total"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
