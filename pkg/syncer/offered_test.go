package syncer

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/config"
)

// The link on which the source offered its snapshot (its FULLRESYNC
// answer to a PSYNC redferry's offset is too old for) is kept while the
// target is emptied, then used; these are the paths where it is not.

// offeredSnapshotSetup syncs a source with a small backlog, stops, and
// writes past the backlog: the next start gets FULLRESYNC. The diskless
// source then waits 2 s before it sends a snapshot, so a link killed
// meanwhile holds only keep-alives.
func offeredSnapshotSetup(t *testing.T, ctx context.Context) (src, dst *redistest.Server, cfg config.Config) {
	t.Helper()
	src = redistest.Start(t, redistest.Redis70, redistest.Options{Args: smallBacklogArgs(true)})
	dst = redistest.Start(t, redistest.Redis70, redistest.Options{})
	fillSource(t, ctx, src, 300)
	cfg = testConfig(t, src, dst)
	r := startSyncer(t, ctx, cfg)
	waitCaughtUp(t, ctx, r.s, src, r.errc)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	writePastBacklog(t, ctx, src)
	c := src.Client()
	defer c.Close()
	if err := c.ConfigSet(ctx, "repl-diskless-sync-delay", "2").Err(); err != nil {
		t.Fatal(err)
	}
	return src, dst, cfg
}

// TestOfferedSnapshotLinkDied: the source drops the offered link before
// redferry reads it (killed right after the FULLRESYNC answer, as
// repl-timeout would). The next run finds it dead before a byte of the
// snapshot is spooled, asks for a full sync on a new link, and the target
// ends equal to the source.
func TestOfferedSnapshotLinkDied(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	src, dst, cfg := offeredSnapshotSetup(t, ctx)
	c := src.Client()
	defer c.Close()
	full := syncStat(t, src, "sync_full")
	var killed atomic.Int64
	r := startSyncerWith(t, ctx, cfg, func(s *Syncer) {
		s.afterSnapshotOffered = func() {
			n, err := c.ClientKillByFilter(ctx, "TYPE", "replica").Result()
			if err != nil {
				t.Errorf("CLIENT KILL TYPE replica: %v", err)
			}
			killed.Add(n)
		}
	})
	waitCaughtUp(t, ctx, r.s, src, r.errc)
	if killed.Load() != 1 {
		t.Fatalf("killed %d replica links after the FULLRESYNC answer, want 1: the fallback was not exercised", killed.Load())
	}
	// Redferry goes on streaming what comes after.
	stopLoad := load(t, ctx, src, 61)
	time.Sleep(500 * time.Millisecond)
	stopLoad()
	waitCaughtUp(t, ctx, r.s, src, r.errc)
	assertSameData(t, ctx, src, dst)
	// The snapshot offered on the killed link, then the one asked for.
	if n := syncStat(t, src, "sync_full") - full; n != 2 {
		t.Errorf("the source served %d full syncs, want 2 (the offered one, killed, and one asked for again)", n)
	}
	if n := src.InfoField(t, "replication", "connected_slaves"); n != "1" {
		t.Errorf("the source has %s replica links, want 1 (redferry's)", n)
	}
}

// TestOfferedSnapshotStopped: redferry is stopped while it hands the
// offered link on: Run returns cleanly and the link is closed.
func TestOfferedSnapshotStopped(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	src, _, cfg := offeredSnapshotSetup(t, ctx)
	offered, release := make(chan struct{}), make(chan struct{})
	r := startSyncerWith(t, ctx, cfg, func(s *Syncer) {
		s.afterSnapshotOffered = func() { close(offered); <-release }
	})
	select {
	case <-offered:
	case <-time.After(30 * time.Second):
		t.Fatal("the source offered no snapshot")
	}
	r.cancel()
	close(release)
	if err := r.stop(); err != nil {
		t.Fatalf("stopped while holding the offered link: Run returned %v, want nil", err)
	}
	waitFor(t, 10*time.Second, "the offered link is still open after the stop",
		func() bool { return src.InfoField(t, "replication", "connected_slaves") == "0" })
}

// TestOfferedSnapshotTargetNotEmptied: emptying the target fails after the
// source offered its snapshot: Run stops with that error, nothing is
// applied, and the offered link is closed.
func TestOfferedSnapshotTargetNotEmptied(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	src, dst, cfg := offeredSnapshotSetup(t, ctx)
	dc := dst.Client()
	defer dc.Close()
	keys := dc.DBSize(ctx).Val()
	r := startSyncerWith(t, ctx, cfg, func(s *Syncer) {
		s.afterSnapshotOffered = func() {
			if err := dc.Do(ctx, "ACL", "SETUSER", "default", "-flushall").Err(); err != nil {
				t.Errorf("revoking FLUSHALL on the target: %v", err)
			}
		}
	})
	err := r.waitStopped(t, "emptying the target failed")
	r.errc <- err // for the cleanup's stop
	if err == nil || !strings.Contains(err.Error(), "emptying the target") {
		t.Fatalf("Run returned %v, want the error of emptying the target", err)
	}
	waitFor(t, 10*time.Second, "the offered link is still open after Run returned",
		func() bool { return src.InfoField(t, "replication", "connected_slaves") == "0" })
	if n := dc.DBSize(ctx).Val(); n != keys {
		t.Errorf("the target holds %d keys, want the %d it held before", n, keys)
	}
}
