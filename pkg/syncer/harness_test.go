package syncer

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/redferry/redferry/internal/faultproxy"
	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/config"
)

// Helpers for the fault and resume tests: a Syncer running in the
// background, proxies, the source's sync counters, a write load.

type running struct {
	s      *Syncer
	cancel context.CancelFunc
	errc   chan error    // Run's result, for waitCaughtUp (which may take it)
	done   chan struct{} // closed when Run returned, with its result in err
	err    error
}

// startSyncer opens a Syncer on cfg and runs it until stop.
func startSyncer(t *testing.T, ctx context.Context, cfg config.Config) *running {
	t.Helper()
	return startSyncerWith(t, ctx, cfg, nil)
}

// startSyncerWith is startSyncer with setup (may be nil) called on the
// Syncer before it runs (test hooks).
func startSyncerWith(t *testing.T, ctx context.Context, cfg config.Config, setup func(*Syncer)) *running {
	t.Helper()
	s, err := newFromConfig(ctx, cfg, zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel)))
	if err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		setup(s)
	}
	runCtx, cancel := context.WithCancel(ctx)
	r := &running{s: s, cancel: cancel, errc: make(chan error, 1), done: make(chan struct{})}
	go func() {
		r.err = s.Run(runCtx)
		close(r.done)
		r.errc <- r.err
	}()
	t.Cleanup(func() { r.stop() })
	return r
}

// stop ends the run cleanly and returns what Run returned.
func (r *running) stop() error {
	if r.s == nil {
		return nil
	}
	r.cancel()
	<-r.done
	err := r.err
	r.s.Close()
	r.s = nil
	return err
}

// waitStopped waits up to 30 s for Run to return and returns its error; it
// fails the test, saying the sync goes on after what happened, if Run has
// not returned by then.
func (r *running) waitStopped(t *testing.T, after string) error {
	t.Helper()
	select {
	case err := <-r.errc:
		return err
	case <-time.After(30 * time.Second):
		t.Fatalf("the sync goes on after %s", after)
		return nil
	}
}

// proxy starts a fault proxy in front of srv.
func proxy(t *testing.T, srv *redistest.Server) *faultproxy.Proxy {
	t.Helper()
	p, err := faultproxy.Start(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// viaProxy is srv's URL with the proxy's address.
func viaProxy(p *faultproxy.Proxy) string { return "redis://" + p.Addr() }

// syncStat is a counter of the source's INFO stats (sync_full,
// sync_partial_ok, sync_partial_err).
func syncStat(t *testing.T, srv *redistest.Server, name string) int {
	t.Helper()
	n, err := strconv.Atoi(srv.InfoField(t, "stats", name))
	if err != nil {
		t.Fatalf("INFO stats %s on %s: %v", name, srv.Name, err)
	}
	return n
}

// load runs a non-idempotent write load on the source in the background
// until the returned function is called, which waits for it to end.
func load(t *testing.T, ctx context.Context, srv *redistest.Server, seed int64) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	c := srv.Client()
	wl := &redistest.Workload{Seed: seed, Version: srv.Version, Functions: true}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer c.Close()
		for ctx.Err() == nil {
			if err := wl.Run(ctx, c, 200); err != nil && ctx.Err() == nil {
				t.Errorf("write load: %v", err)
				return
			}
			time.Sleep(5 * time.Millisecond) // leave the 2 cores some air
		}
	}()
	return func() { cancel(); wg.Wait() }
}

// fillSource writes keys into the source.
func fillSource(t *testing.T, ctx context.Context, srv *redistest.Server, keys int) {
	t.Helper()
	c := srv.Client()
	defer c.Close()
	wl := &redistest.Workload{Seed: 1, Version: srv.Version, Functions: true}
	if err := wl.Fill(ctx, c, keys); err != nil {
		t.Fatalf("filling the source: %v", err)
	}
}

// waitFor polls cond every 20ms for up to d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func testLogger(t *testing.T) *zap.Logger { return zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel)) }

// newFromConfig is New with the options of a redferry configuration, as the
// sync command builds them.
func newFromConfig(ctx context.Context, cfg config.Config, log *zap.Logger) (*Syncer, error) {
	opt, err := OptionsFromConfig(cfg, log)
	if err != nil {
		return nil, err
	}
	return New(ctx, opt)
}
