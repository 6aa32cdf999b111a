package syncer

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/status"
)

// max-ops-per-second holds within 10 % over 10 s while the spool holds the
// backlog, and a new limit set through PUT /limits takes effect at once.
// (A rate limit, not a performance goal: the issue asks for this check.)
func TestSyncRateLimit(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	src := redistest.Start(t, redistest.Redis70, redistest.Options{Args: sourceArgs(false)})
	dst := redistest.Start(t, redistest.Redis70, redistest.Options{})
	cfg := testConfig(t, src, dst)
	cfg.MaxOpsPerSecond = 2000
	opt, err := OptionsFromConfig(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(ctx, opt)
	if err != nil {
		t.Fatal(err)
	}
	const token = "0123456789abcdef0123456789abcdef"
	api := httptest.NewServer(status.NewHandler(s.Tracker(), status.HandlerOptions{Token: token, Limits: opt.Limits}))
	defer api.Close()
	runCtx, stop := context.WithCancel(ctx)
	runErr := make(chan error, 1)
	go func() { runErr <- s.Run(runCtx) }()
	defer func() {
		stop()
		if err := <-runErr; err != nil {
			t.Errorf("Run after a clean stop: %v", err)
		}
		s.Close()
	}()
	waitFor(t, 30*time.Second, "streaming", func() bool { return s.Tracker().Phase() == status.PhaseStreaming })

	// A backlog far beyond what the limits let through during the test.
	c := src.Client()
	defer c.Close()
	for i := 0; i < 80; i++ {
		if _, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for j := 0; j < 1000; j++ {
				p.Set(ctx, "k:"+strconv.Itoa(i*1000+j), j, 0)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, "the applier at work", func() bool { return s.Tracker().Report().CommandsApplied > 1000 })

	measure := func(d time.Duration) float64 {
		c0, t0 := s.Tracker().Report().CommandsApplied, time.Now()
		time.Sleep(d)
		c1, t1 := s.Tracker().Report().CommandsApplied, time.Now()
		return float64(c1-c0) / t1.Sub(t0).Seconds()
	}
	within := func(what string, got, want float64) {
		t.Helper()
		t.Logf("%s: %.0f commands/s applied (limit %.0f)", what, got, want)
		if math.Abs(got-want) > 0.1*want {
			t.Errorf("%s: %.0f commands/s applied, want %.0f ± 10 %%", what, got, want)
		}
	}
	within("max-ops-per-second = 2000", measure(10*time.Second), 2000)
	if r := s.Tracker().Report(); r.LagBytes == 0 || r.Limits == nil || r.Limits.ThrottledSeconds == 0 {
		t.Errorf("while throttled: lag %d bytes, limits %+v; want a backlog in the spool and throttled time", r.LagBytes, r.Limits)
	}

	put := func(body string) int {
		req, _ := http.NewRequest(http.MethodPut, api.URL+"/limits", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := put(`{"max_ops_per_second": 5000}`); code != 200 {
		t.Fatalf("PUT /limits: %d", code)
	}
	resp, err := http.Get(api.URL + "/limits")
	if err != nil {
		t.Fatal(err)
	}
	var shown status.LimitsReport
	_ = json.NewDecoder(resp.Body).Decode(&shown)
	resp.Body.Close()
	if shown.MaxOpsPerSecond != 5000 {
		t.Errorf("GET /limits shows %+v after PUT 5000", shown)
	}
	time.Sleep(200 * time.Millisecond) // the batch booked under the old limit
	within("changed at run time to 5000", measure(5*time.Second), 5000)
	put(`{"max_ops_per_second": 0}`)
}
