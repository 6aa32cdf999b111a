package syncer

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/config"
	"github.com/redferry/redferry/pkg/server"
	"github.com/redferry/redferry/pkg/spool"
	"github.com/redferry/redferry/pkg/status"
)

// sentinelLoad runs a non-idempotent write load (INCR, LPUSH, … of
// redistest.Workload) on the master the sentinels name, through the
// control client redferry itself uses for a sentinel URL, until stop. Writes
// refused while the master changes are skipped (the load goes on on the new
// master); stop fails the test if no batch of writes was accepted whole.
func sentinelLoad(t *testing.T, ctx context.Context, set *redistest.SentinelSet, version string, seed int64) (stop func()) {
	t.Helper()
	cfg := config.Default()
	cfg.Source = set.URL()
	opts, err := cfg.SourceClient()
	if err != nil {
		t.Fatal(err)
	}
	c := server.NewClient(opts)
	ctx, cancel := context.WithCancel(ctx)
	wl := &redistest.Workload{Seed: seed, Version: version, Functions: true}
	var ok atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer c.Close()
		for ctx.Err() == nil {
			if err := wl.Run(ctx, c, 100); err == nil {
				ok.Add(1)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return func() {
		t.Helper()
		cancel()
		wg.Wait()
		if ok.Load() == 0 {
			t.Fatal("the write load wrote nothing")
		}
	}
}

// failoverUnderLoad is the middle of the sentinel tests: the write load
// (started by startLoad: load or sentinelLoad) writes for a while, failover
// moves the master and returns the new one, the load writes a second more
// (on the new master of a source) and stops.
func failoverUnderLoad(t *testing.T, startLoad func() (stop func()), failover func() *redistest.Server) *redistest.Server {
	t.Helper()
	stop := startLoad()
	time.Sleep(700 * time.Millisecond)
	next := failover()
	time.Sleep(time.Second)
	stop()
	return next
}

// assertSynced is the end of the sentinel tests: the sync catches up with
// src, the source it follows now, and dst holds what src holds.
func assertSynced(t *testing.T, ctx context.Context, r *running, src, dst *redistest.Server) {
	t.Helper()
	waitCaughtUp(t, ctx, r.s, src, r.errc)
	assertSameData(t, ctx, src, dst)
}

// assertNoSecondSnapshot: the spool still holds the snapshot taken before
// the failover (redferry continued with PSYNC).
func assertNoSecondSnapshot(t *testing.T, r *running, before spool.SnapshotInfo) {
	t.Helper()
	if snap, _ := r.s.spool.Snapshot(); snap.ReplID != before.ReplID || snap.Offset != before.Offset {
		t.Errorf("redferry took a second snapshot after the failover: %s %d, before %s %d", snap.ReplID, snap.Offset, before.ReplID, before.Offset)
	}
}

// assertOneFullSync: the source served one full sync, the first.
func assertOneFullSync(t *testing.T, src *redistest.Server) {
	t.Helper()
	if n := syncStat(t, src, "sync_full"); n != 1 {
		t.Errorf("the source served %d full syncs, want 1", n)
	}
}

// TestSentinelSourceFailover: a sync from a sentinel-managed source (Redis
// 7.0) follows a switchover during a live write load: redferry learns the
// new master from the sentinels, continues with PSYNC on it (no second
// snapshot), and the target equals the new master at the end.
func TestSentinelSourceFailover(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	set := redistest.StartSentinelSet(t, redistest.Redis70, redistest.Options{Args: sourceArgs(false)})
	fillSource(t, ctx, set.Nodes[0], 500)
	dst := redistest.Start(t, redistest.Valkey91, redistest.Options{})
	cfg := testConfig(t, set.Nodes[0], dst)
	cfg.Source = set.URL()
	r := startSyncer(t, ctx, cfg)
	waitCaughtUp(t, ctx, r.s, set.Nodes[0], r.errc)
	snapBefore, _ := r.s.spool.Snapshot()

	next := failoverUnderLoad(t, func() func() { return sentinelLoad(t, ctx, set, set.Nodes[0].Version, 71) }, func() *redistest.Server {
		return set.Failover(t, redistest.FailoverOptions{PauseWrites: 4 * time.Second})
	})
	assertSynced(t, ctx, r, next, dst)
	assertNoSecondSnapshot(t, r, snapBefore)
	// The new master may have sent one to the old master, its replica now
	// (the writes blocked by the pause ran there before its demotion).
	if n := syncStat(t, next, "sync_full"); n > 1 {
		t.Errorf("the new master served %d full syncs, want at most 1 (its new replica's)", n)
	}
	if n := syncStat(t, next, "sync_partial_ok"); n < 1 {
		t.Errorf("the new master served %d partial syncs, want >= 1 (redferry's); its log:\n%s", n, next.LogTail())
	}
	if n := r.s.Tracker().Report(); n.Reconnects < 1 {
		t.Errorf("redferry reports %d reconnects to the source, want >= 1", n.Reconnects)
	}
}

// TestSentinelTargetFailover: a sync into a sentinel-managed target
// (Valkey 9.1) whose master fails over during a live write load continues
// on the new master from the checkpoint it holds: the target equals the
// source at the end, and the source served one full sync. A switchover
// leaves the old master taking writes until it is demoted; a killed master
// takes with it what it had not passed on.
func TestSentinelTargetFailover(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		failover func(t *testing.T, set *redistest.SentinelSet) *redistest.Server
	}{
		{"switchover", func(t *testing.T, set *redistest.SentinelSet) *redistest.Server {
			return set.Failover(t, redistest.FailoverOptions{})
		}},
		{"master killed", func(t *testing.T, set *redistest.SentinelSet) *redistest.Server { return set.KillMaster(t) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			src := redistest.Start(t, redistest.Redis70, redistest.Options{Args: sourceArgs(false)})
			fillSource(t, ctx, src, 500)
			set := redistest.StartSentinelSet(t, redistest.Valkey91, redistest.Options{})
			cfg := testConfig(t, src, set.Nodes[0])
			cfg.Target = set.URL()
			r := startSyncer(t, ctx, cfg)
			waitCaughtUp(t, ctx, r.s, src, r.errc)

			next := failoverUnderLoad(t, func() func() { return load(t, ctx, src, 72) }, func() *redistest.Server { return tt.failover(t, set) })
			assertSynced(t, ctx, r, src, next)
			assertOneFullSync(t, src)
		})
	}
}

// TestSentinelSourcePingsAfterPromotion: during a planned switchover the
// paused master still PINGs its replicas; redferry, learning of the
// failover late (its only sentinel was cut off), receives a PING the
// promoted replica never had, so the new master's history ends before
// redferry's offset. redferry cuts the PINGs off and continues with PSYNC:
// no second snapshot, and the target equals the new master (Valkey 9.1).
func TestSentinelSourcePingsAfterPromotion(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	set := redistest.StartSentinelSet(t, redistest.Valkey91, redistest.Options{
		Args: append(sourceArgs(false), "repl-ping-replica-period", "1")})
	fillSource(t, ctx, set.Nodes[0], 300)
	dst := redistest.Start(t, redistest.Redis70, redistest.Options{})
	cfg := testConfig(t, set.Nodes[0], dst)
	lone := set.Sentinels[2]
	cfg.Source = set.URLOf(lone)
	r := startSyncer(t, ctx, cfg)
	waitCaughtUp(t, ctx, r.s, set.Nodes[0], r.errc)
	snapBefore, _ := r.s.spool.Snapshot()

	next := failoverUnderLoad(t, func() func() { return sentinelLoad(t, ctx, set, set.Nodes[0].Version, 73) }, func() *redistest.Server {
		set.Freeze(t, lone)
		// The pause outlasts the promotion and redferry's switch: the old
		// master takes no write after the promotion, only sends PINGs.
		return set.Failover(t, redistest.FailoverOptions{PauseWrites: 20 * time.Second, Promoted: func(next *redistest.Server) {
			fork := int64(-1)
			waitFor(t, 10*time.Second, "no PING after the promotion reached redferry", func() bool {
				second, err := strconv.ParseInt(next.InfoField(t, "replication", "second_repl_offset"), 10, 64)
				fork = second - 1
				return err == nil && r.s.spool.End() > fork
			})
			set.Thaw(t, lone)
			// The old master, paused, is not the new one's replica yet: the one
			// replica it has is redferry.
			waitFor(t, 15*time.Second, "redferry did not connect to the new master", func() bool {
				return next.InfoField(t, "replication", "connected_slaves") == "1"
			})
		}})
	})
	assertSynced(t, ctx, r, next, dst)
	assertNoSecondSnapshot(t, r, snapBefore)
	if n := syncStat(t, next, "sync_full"); n > 1 {
		t.Errorf("the new master served %d full syncs, want at most 1 (its new replica's)", n)
	}
}

// TestSentinelTargetKilledDuringSnapshot: the target master is killed while
// the snapshot is being applied (slowed by a rate limit); redferry continues
// the snapshot on the new master from the position its checkpoint holds,
// then the stream: no second full sync, and the target equals the source.
func TestSentinelTargetKilledDuringSnapshot(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	src := redistest.Start(t, redistest.Redis70, redistest.Options{Args: sourceArgs(false)})
	fillSource(t, ctx, src, 1500)
	set := redistest.StartSentinelSet(t, redistest.Valkey91, redistest.Options{})
	cfg := testConfig(t, src, set.Nodes[0])
	cfg.Target = set.URL()
	cfg.MaxOpsPerSecond = 1000
	cfg.BatchCommands = 50
	r := startSyncer(t, ctx, cfg)
	stopLoad := load(t, ctx, src, 74)
	old := set.Nodes[0]
	waitFor(t, 30*time.Second, "the snapshot replay did not get going", func() bool {
		keys := old.InfoField(t, "keyspace", "db0")
		return r.s.Tracker().Phase() == status.PhaseSnapshotReplay && keys != "" && !strings.HasPrefix(keys, "keys=1,")
	})
	next := set.KillMaster(t)
	if p := r.s.Tracker().Phase(); p != status.PhaseSnapshotReplay {
		t.Logf("the snapshot was applied before the failover completed (phase %s): the stream was continued instead", p)
	}
	stopLoad()
	r.s.opt.Limits.Set(0, 0) // the rate limit only slowed the snapshot down: catch up at full speed
	assertSynced(t, ctx, r, src, next)
	assertOneFullSync(t, src)
}

// TestSentinelSourceMasterKilled: the source master is killed (SIGKILL)
// under the write load. redferry follows the sentinels to the promoted
// replica: with PSYNC when the replica had all redferry had received, else
// with a new full sync (on-full-resync = flush, the writes only the dead
// master had are gone from the source). Either way the target ends equal to
// the new master.
func TestSentinelSourceMasterKilled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	set := redistest.StartSentinelSet(t, redistest.Redis70, redistest.Options{Args: sourceArgs(false)})
	fillSource(t, ctx, set.Nodes[0], 300)
	dst := redistest.Start(t, redistest.Valkey81, redistest.Options{})
	cfg := testConfig(t, set.Nodes[0], dst)
	cfg.Source = set.URL()
	r := startSyncer(t, ctx, cfg)
	waitCaughtUp(t, ctx, r.s, set.Nodes[0], r.errc)
	snapBefore, _ := r.s.spool.Snapshot()

	next := failoverUnderLoad(t, func() func() { return sentinelLoad(t, ctx, set, set.Nodes[0].Version, 75) }, func() *redistest.Server {
		return set.KillMaster(t)
	})
	assertSynced(t, ctx, r, next, dst)
	if snap, _ := r.s.spool.Snapshot(); snap.ReplID != snapBefore.ReplID {
		t.Logf("redferry had received writes the promoted replica lacked: it took a new snapshot")
	} else {
		t.Logf("redferry continued on the promoted replica with PSYNC")
	}
}
