package syncer

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redferry/redferry/internal/faultproxy"
	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/checkpoint"
	"github.com/redferry/redferry/pkg/config"
	"github.com/redferry/redferry/pkg/status"
)

// Restarts: each one must continue where the last stopped, with PSYNC and
// no new snapshot, except when stopped during the snapshot download.

// TestCheckpointClosesBatch: a source transaction that swaps and flushes
// databases is one batch; the checkpoint, written last, survives it, so a
// restart continues with PSYNC.
func TestCheckpointClosesBatch(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	src := redistest.Start(t, redistest.Redis70, redistest.Options{Args: sourceArgs(false)})
	dst := redistest.Start(t, redistest.Redis70, redistest.Options{})
	fillSource(t, ctx, src, 300)
	cfg := testConfig(t, src, dst)
	cfg.BatchCommands = 3 // the transaction is far longer: it must not be split anyway
	r := startSyncer(t, ctx, cfg)
	waitCaughtUp(t, ctx, r.s, src, r.errc)

	c := src.Client()
	defer c.Close()
	batches := r.s.target.Stats().Batches
	_, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for i := range 20 {
			p.Incr(ctx, "tx:counter")
			p.RPush(ctx, "tx:list", i)
		}
		p.SwapDB(ctx, 0, 1)
		p.Set(ctx, "after-swap", "1", 0)
		p.FlushAll(ctx)
		p.Incr(ctx, "after-flush")
		p.SwapDB(ctx, 0, 2)
		p.Set(ctx, "last", "1", 0)
		return nil
	})
	if err != nil {
		t.Fatalf("source transaction: %v", err)
	}
	waitCaughtUp(t, ctx, r.s, src, r.errc)
	if n := r.s.target.Stats().Batches - batches; n != 1 {
		t.Errorf("the source transaction took %d target batches, want 1", n)
	}
	cp, err := dst.Client().Get(ctx, "redferry:checkpoint:default").Result()
	if err != nil {
		t.Fatalf("the checkpoint key is gone from db 0 after SWAPDB and FLUSHALL: %v", err)
	}
	if st, err := checkpoint.Unmarshal([]byte(cp)); err != nil || st.Phase != checkpoint.PhaseStreaming {
		t.Fatalf("checkpoint %q: %v", cp, err)
	}
	assertSameData(t, ctx, src, dst)

	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if err := (&redistest.Workload{Seed: 3, Version: src.Version}).Run(ctx, c, 300); err != nil {
		t.Fatal(err)
	}
	r = startSyncer(t, ctx, cfg)
	waitCaughtUp(t, ctx, r.s, src, r.errc)
	assertSameData(t, ctx, src, dst)
	if n := syncStat(t, src, "sync_full"); n != 1 {
		t.Errorf("sync_full = %d, want 1: the restart must continue from the checkpoint", n)
	}
}

// TestStopInEveryPhase stops redferry in each phase and starts it again
// under a write load: only a stop during the download costs a new snapshot.
func TestStopInEveryPhase(t *testing.T) {
	t.Parallel()
	cases := []struct {
		phase     status.Phase
		wantFull  int
		throttle  func(src, dst *faultproxy.Proxy) // slows the phase down enough to stop in it
		reachedIn func(r status.Report) bool
	}{
		{status.PhaseSnapshotDownload, 2,
			func(src, _ *faultproxy.Proxy) { src.Throttle(faultproxy.Downstream, 1<<20) },
			func(r status.Report) bool {
				return r.Phase == status.PhaseSnapshotDownload && r.SnapshotReceived > 100<<10
			}},
		{status.PhaseSnapshotReplay, 1,
			func(_, dst *faultproxy.Proxy) { dst.Throttle(faultproxy.Upstream, 1<<20) },
			func(r status.Report) bool {
				return r.Phase == status.PhaseSnapshotReplay && r.SnapshotApplied > 100<<10
			}},
		{status.PhaseStreaming, 1, func(_, _ *faultproxy.Proxy) {},
			func(r status.Report) bool { return r.Phase == status.PhaseStreaming }},
	}
	for _, tc := range cases {
		t.Run(string(tc.phase), func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			src := redistest.Start(t, redistest.Redis80, redistest.Options{Args: sourceArgs(false)})
			dst := redistest.Start(t, redistest.Valkey81, redistest.Options{})
			fillSource(t, ctx, src, 4000)
			sp, dp := proxy(t, src), proxy(t, dst)
			cfg := testConfig(t, src, dst)
			cfg.Source, cfg.Target = viaProxy(sp), viaProxy(dp)
			tc.throttle(sp, dp)
			stopLoad := load(t, ctx, src, 21)
			defer stopLoad()
			r := startSyncer(t, ctx, cfg)
			waitFor(t, time.Minute, "never reached phase "+string(tc.phase), func() bool {
				return tc.reachedIn(r.s.Tracker().Report())
			})
			if err := r.stop(); err != nil {
				t.Fatalf("a clean stop in phase %s: %v", tc.phase, err)
			}
			sp.Throttle(faultproxy.Downstream, 0)
			dp.Throttle(faultproxy.Upstream, 0)
			r = startSyncer(t, ctx, cfg)
			time.Sleep(500 * time.Millisecond)
			stopLoad()
			waitCaughtUp(t, ctx, r.s, src, r.errc)
			assertSameData(t, ctx, src, dst)
			if n := syncStat(t, src, "sync_full"); n != tc.wantFull {
				t.Errorf("sync_full = %d, want %d", n, tc.wantFull)
			}
			if tc.wantFull == 1 && syncStat(t, src, "sync_partial_ok") < 1 {
				t.Errorf("sync_partial_ok = 0: the restart did not continue with PSYNC")
			}
		})
	}
}

// TestOnFullResync: the source's backlog no longer holds our offset (it is
// tiny and far more was written while redferry was stopped). With stop,
// redferry stops with an error naming on-full-resync; with flush, it takes
// the snapshot the source offered in its FULLRESYNC answer: the source
// serves one full sync for the resync, not two.
func TestOnFullResync(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		server   string
		diskless bool
	}{
		{redistest.Redis60, false},
		{redistest.Redis70, true},
		{redistest.Valkey91, false},
	} {
		t.Run(tc.server, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			src := redistest.Start(t, tc.server, redistest.Options{Args: smallBacklogArgs(tc.diskless)})
			dst := redistest.Start(t, redistest.Redis70, redistest.Options{})
			fillSource(t, ctx, src, 300)
			cfg := testConfig(t, src, dst)
			r := startSyncer(t, ctx, cfg)
			waitCaughtUp(t, ctx, r.s, src, r.errc)
			if err := r.stop(); err != nil {
				t.Fatal(err)
			}
			writePastBacklog(t, ctx, src)

			cfg.OnFullResync = "stop"
			full := syncStat(t, src, "sync_full")
			r = startSyncer(t, ctx, cfg)
			err := r.waitStopped(t, "a FULLRESYNC with on-full-resync = stop")
			r.errc <- err // for the cleanup's stop
			if err == nil || !strings.Contains(err.Error(), "on-full-resync") {
				t.Fatalf("on-full-resync = stop: Run returned %v, want an error naming on-full-resync", err)
			}
			t.Logf("on-full-resync = stop: %v", err)
			r.stop()
			if n := syncStat(t, src, "sync_full") - full; n != 1 {
				t.Errorf("on-full-resync = stop: the source served %d full syncs, want 1 (the one it offered)", n)
			}
			waitFor(t, 10*time.Second, "the stopped sync's link to the source is still open",
				func() bool { return src.InfoField(t, "replication", "connected_slaves") == "0" })

			cfg.OnFullResync = "flush"
			// A key only the target has must go with the flush.
			dst.Client().Set(ctx, "only-in-target", "x", 0)
			full = syncStat(t, src, "sync_full")
			r = startSyncer(t, ctx, cfg)
			waitCaughtUp(t, ctx, r.s, src, r.errc)
			assertSameData(t, ctx, src, dst)
			if n := syncStat(t, src, "sync_full") - full; n != 1 {
				t.Errorf("on-full-resync = flush: the source served %d full syncs for the resync, want 1 (the snapshot it offered)", n)
			}
			if n := src.InfoField(t, "replication", "connected_slaves"); n != "1" {
				t.Errorf("the source has %s replica links, want 1 (redferry's)", n)
			}
		})
	}
}

// smallBacklogArgs: a source whose backlog (16 kB) writePastBacklog
// overruns.
func smallBacklogArgs(diskless bool) []string {
	return append(sourceArgs(diskless), "repl-backlog-size", "16kb")
}

// writePastBacklog writes 2 MB of values into the source, far more than
// smallBacklogArgs' backlog holds.
func writePastBacklog(t *testing.T, ctx context.Context, src *redistest.Server) {
	t.Helper()
	c := src.Client()
	defer c.Close()
	value := strings.Repeat("v", 64<<10)
	if _, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range 32 {
			p.Set(ctx, "past-backlog:"+strconv.Itoa(i), value, 0)
		}
		return nil
	}); err != nil {
		t.Fatalf("writing past the source's backlog: %v", err)
	}
}

// TestSourceRestartKeepsBacklog: Redis 7+ keeps its replid and offset across
// a restart from its own RDB, so redferry continues without a full sync.
func TestSourceRestartKeepsBacklog(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// With a save point the shutdown itself writes the RDB, so its offset
	// counts what the source sent up to the end (expired keys' DELs, PINGs):
	// an RDB from an earlier SAVE would be behind redferry.
	src := redistest.Start(t, redistest.Redis70, redistest.Options{Args: append(sourceArgs(false), "save", "3600 1")})
	dst := redistest.Start(t, redistest.Valkey91, redistest.Options{})
	fillSource(t, ctx, src, 500)
	r := startSyncer(t, ctx, testConfig(t, src, dst))
	stopLoad := load(t, ctx, src, 31)
	time.Sleep(time.Second)
	stopLoad()
	waitCaughtUp(t, ctx, r.s, src, r.errc)
	src.Restart(true)
	stopLoad = load(t, ctx, src, 32)
	time.Sleep(time.Second)
	stopLoad()
	waitCaughtUp(t, ctx, r.s, src, r.errc)
	assertSameData(t, ctx, src, dst)
	// The counters started again with the server.
	if n := syncStat(t, src, "sync_full"); n != 0 {
		t.Errorf("after the source's restart sync_full = %d, want 0", n)
	}
	if n := syncStat(t, src, "sync_partial_ok"); n < 1 {
		t.Errorf("after the source's restart sync_partial_ok = %d, want >= 1; source log:\n%s", n, src.LogTail())
	}
}

// TestFailoverToPromotedReplica: redferry, pointed at a promoted replica of
// its old source (another address), finds its checkpoint, and the replica
// accepts the old replid: no full sync.
func TestFailoverToPromotedReplica(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	primary := redistest.Start(t, redistest.Redis70, redistest.Options{Args: sourceArgs(false)})
	replica := redistest.Start(t, redistest.Redis70, redistest.Options{Args: sourceArgs(false)})
	dst := redistest.Start(t, redistest.Redis80, redistest.Options{})
	fillSource(t, ctx, primary, 500)
	replica.ReplicateFrom(t, primary)
	cfg := testConfig(t, primary, dst)
	r := startSyncer(t, ctx, cfg)
	stopLoad := load(t, ctx, primary, 41)
	time.Sleep(time.Second)
	stopLoad()
	waitCaughtUp(t, ctx, r.s, primary, r.errc)
	replica.WaitCaughtUp(t, primary)
	primary.Kill()
	replica.Promote(t)
	if err := r.stop(); err != nil {
		t.Logf("stopping redferry with its source gone: %v", err)
	}

	continueOnPromoted(t, ctx, cfg, replica, dst, 42)
	if n := syncStat(t, replica, "sync_partial_ok"); n != 1 {
		t.Errorf("the promoted replica served %d partial syncs, want 1", n)
	}
}

// continueOnPromoted starts redferry again with cfg's state dir on the
// promoted replica, writes there for a second (load seed), and asserts
// that the target equals it and that the replica served no full sync.
func continueOnPromoted(t *testing.T, ctx context.Context, cfg config.Config, replica, dst *redistest.Server, seed int64) *running {
	t.Helper()
	cfg.Source = replica.URL()
	r := startSyncer(t, ctx, cfg)
	stopLoad := load(t, ctx, replica, seed)
	time.Sleep(time.Second)
	stopLoad()
	waitCaughtUp(t, ctx, r.s, replica, r.errc)
	assertSameData(t, ctx, replica, dst)
	if n := syncStat(t, replica, "sync_full"); n != 0 {
		t.Errorf("the promoted replica served %d full syncs, want 0", n)
	}
	return r
}

// TestTargetRestartMidStream restarts the target (AOF on) under a load.
func TestTargetRestartMidStream(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	src := redistest.Start(t, redistest.Valkey81, redistest.Options{Args: sourceArgs(true)})
	dst := redistest.Start(t, redistest.Redis70, redistest.Options{Args: []string{"appendonly", "yes", "appendfsync", "always"}})
	fillSource(t, ctx, src, 500)
	r := startSyncer(t, ctx, testConfig(t, src, dst))
	waitCaughtUp(t, ctx, r.s, src, r.errc)
	stopLoad := load(t, ctx, src, 51)
	time.Sleep(500 * time.Millisecond)
	dst.Restart(false)
	time.Sleep(time.Second)
	stopLoad()
	waitCaughtUp(t, ctx, r.s, src, r.errc)
	assertSameData(t, ctx, src, dst)
	if n := syncStat(t, src, "sync_full"); n != 1 {
		t.Errorf("sync_full = %d, want 1", n)
	}
}

// TestSpoolLimit: with the target stalled, the spool fills to
// max-spool-bytes and redferry stops reading the source; once the target
// is back everything arrives, with no new snapshot.
func TestSpoolLimit(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	src := redistest.Start(t, redistest.Redis80, redistest.Options{Args: sourceArgs(false)})
	dst := redistest.Start(t, redistest.Redis80, redistest.Options{})
	fillSource(t, ctx, src, 200)
	dp := proxy(t, dst)
	cfg := testConfig(t, src, dst)
	cfg.Target = viaProxy(dp)
	cfg.MaxSpoolBytes = 64 << 10 // far below the segment size
	r := startSyncer(t, ctx, cfg)
	waitCaughtUp(t, ctx, r.s, src, r.errc)

	dp.Stall()
	stopLoad := load(t, ctx, src, 61)
	waitFor(t, 30*time.Second, "the spool never reached max-spool-bytes", r.s.spool.Full)
	time.Sleep(time.Second)
	received := r.s.Tracker().Received()
	time.Sleep(500 * time.Millisecond)
	if r.s.Tracker().Received() != received {
		t.Errorf("redferry kept reading the source with a full spool")
	}
	stopLoad()
	dp.Resume()
	waitCaughtUp(t, ctx, r.s, src, r.errc)
	assertSameData(t, ctx, src, dst)
	if n := syncStat(t, src, "sync_full"); n != 1 {
		t.Errorf("sync_full = %d, want 1", n)
	}
}

// TestLegacyCheckpointKeyAdopted: a target synced by a redferry that named
// the checkpoint after the source's host:port continues after the upgrade.
func TestLegacyCheckpointKeyAdopted(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	src := redistest.Start(t, redistest.Redis70, redistest.Options{Args: sourceArgs(false)})
	dst := redistest.Start(t, redistest.Redis70, redistest.Options{})
	fillSource(t, ctx, src, 300)
	cfg := testConfig(t, src, dst)
	cfg.CheckpointKey = "redferry:checkpoint:" + src.Addr // what older versions wrote
	r := startSyncer(t, ctx, cfg)
	waitCaughtUp(t, ctx, r.s, src, r.errc)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	cfg.CheckpointKey = ""
	r = startSyncer(t, ctx, cfg)
	waitCaughtUp(t, ctx, r.s, src, r.errc)
	dc := dst.Client()
	defer dc.Close()
	if n, _ := dc.Exists(ctx, "redferry:checkpoint:"+src.Addr).Result(); n != 0 {
		t.Errorf("the old checkpoint key is still there")
	}
	if n, _ := dc.Exists(ctx, "redferry:checkpoint:default").Result(); n != 1 {
		t.Errorf("no checkpoint under the default key")
	}
	if n := syncStat(t, src, "sync_full"); n != 1 {
		t.Errorf("sync_full = %d, want 1: the old checkpoint was not used", n)
	}
	assertSameData(t, ctx, src, dst)
}
