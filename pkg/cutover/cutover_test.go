package cutover

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/redferry/redferry/internal/faultproxy"
	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/server"
	"github.com/redferry/redferry/pkg/status"
)

// follow plays a sync that is always current: it copies the source's
// master_repl_offset into the tracker as received and applied.
func follow(t *testing.T, ctx context.Context, src *redistest.Server, tr *status.Tracker, stuck bool) {
	c := src.Client()
	t.Cleanup(func() { c.Close() })
	tr.SetPhase(status.PhaseStreaming)
	go func() {
		for ctx.Err() == nil {
			info, err := c.Info(ctx, "replication").Result()
			if err == nil {
				off, _ := server.ReplOffset(info)
				tr.SetReceived(off)
				if stuck {
					tr.SetApplied(off - 1)
				} else {
					tr.SetApplied(off)
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
}

func TestCutoverPausesWritesUntilItEnds(t *testing.T) {
	for _, tc := range []struct {
		server, mode string
		note         bool
	}{
		{redistest.Redis70, "WRITE", false},
		{redistest.Valkey91, "WRITE", false},
		{redistest.Redis60, "ALL", true},
	} {
		t.Run(tc.server, func(t *testing.T) {
			src := redistest.Start(t, tc.server, redistest.Options{})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			tr := status.NewTracker("src", "dst")
			follow(t, ctx, src, tr, false)
			co := NewWithClient(src.Client(), tr, zaptest.NewLogger(t))
			defer co.Close()

			res, err := co.Run(ctx, Options{Pause: 1500 * time.Millisecond, Timeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if !res.Paused || res.PauseMode != tc.mode || (len(res.Notes) > 0) != tc.note {
				t.Fatalf("result %+v: want pause mode %s, note %v", res, tc.mode, tc.note)
			}
			// A write sent now waits for the end of the pause.
			w := src.Client()
			defer w.Close()
			start := time.Now()
			if err := w.Set(ctx, "after-cutover", "1", 0).Err(); err != nil {
				t.Fatal(err)
			}
			if waited := time.Since(start); waited < 500*time.Millisecond || time.Now().Before(res.PauseEnds.Add(-100*time.Millisecond)) {
				t.Fatalf("a write went through %s after the cutover, before the pause end: writes were not paused", waited)
			}
		})
	}
}

// A cutover whose target never catches up fails at its deadline with an
// error naming the offset it waited for, and ends the pause it began.
func TestCutoverTimesOutAndUnpauses(t *testing.T) {
	src := redistest.Start(t, redistest.Redis70, redistest.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tr := status.NewTracker("src", "dst")
	tr.SetPhase(status.PhaseStreaming)
	// Lag zero, but the source's offset (0 without replicas, more with)
	// is never reached.
	tr.SetApplied(-1)
	tr.SetReceived(-1)
	co := NewWithClient(src.Client(), tr, zaptest.NewLogger(t))
	defer co.Close()
	// The deadline ends inside an INFO or between two, as the load has it:
	// the error is the same.
	const pause = 30 * time.Second
	res, err := co.Run(ctx, Options{Pause: pause, Timeout: 2 * time.Second})
	if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "did not reach the source's offset") ||
		!strings.Contains(err.Error(), "(applied -1)") {
		t.Fatalf("err = %v, want a timeout naming the source offset it waited for", err)
	}
	if !res.Paused {
		t.Fatalf("result %+v: the source was never paused, the test proves nothing", res)
	}
	// A write that ends well before the pause would (res.PauseEnds) proves
	// the cutover ended it; however slow the machine, it has 20s.
	w := src.Client()
	defer w.Close()
	if err := w.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if left := time.Until(res.PauseEnds); left < pause/3 {
		t.Fatalf("a write went through only %s before the pause's end: the failed cutover left the source's writes paused", left)
	}
}

// A source that stops answering mid-cutover (the deadline ends inside the
// INFO for its offset) gives a timeout naming the offset, not the INFO.
func TestCutoverTimeoutInsideSourceCallNamesTheOffset(t *testing.T) {
	src := redistest.Start(t, redistest.Redis70, redistest.Options{})
	p, err := faultproxy.Start(src.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.Stall()
	defer p.Resume()
	tr := status.NewTracker("src", "dst")
	tr.SetPhase(status.PhaseStreaming)
	co := NewWithClient(server.NewClient(server.ClientOptions{Addr: p.Addr(), IOTimeout: time.Second}), tr, zaptest.NewLogger(t))
	defer co.Close()
	_, err = co.Run(context.Background(), Options{Timeout: 500 * time.Millisecond})
	if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "master_repl_offset could not be read") ||
		strings.Contains(err.Error(), "INFO") {
		t.Fatalf("err = %v, want a timeout naming the source offset it could not read", err)
	}
}

func TestHandlerRejectsBadInputAndConcurrentRuns(t *testing.T) {
	src := redistest.Start(t, redistest.Redis70, redistest.Options{})
	tr := status.NewTracker("src", "dst") // never streaming: a cutover waits
	co := NewWithClient(src.Client(), tr, zaptest.NewLogger(t))
	defer co.Close()
	h := co.Handler()
	post := func(q string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/cutover?"+q, nil))
		return rec
	}
	if rec := post("pause=10m"); rec.Code != 400 {
		t.Fatalf("pause=10m: %d %s, want 400", rec.Code, rec.Body)
	}
	if rec := post("pause=abc"); rec.Code != 400 {
		t.Fatalf("pause=abc: %d, want 400", rec.Code)
	}
	done := make(chan *httptest.ResponseRecorder)
	go func() { done <- post("timeout=1s") }()
	time.Sleep(200 * time.Millisecond)
	if rec := post("timeout=1s"); rec.Code != 409 {
		t.Fatalf("second concurrent cutover: %d, want 409", rec.Code)
	}
	if rec := <-done; rec.Code != 504 || !strings.Contains(rec.Body.String(), "lag") {
		t.Fatalf("cutover of a sync that never streams: %d %s, want 504 naming the lag", rec.Code, rec.Body)
	}
}
