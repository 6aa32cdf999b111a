package syncer

import (
	"context"
	"testing"
	"time"

	"github.com/redferry/redferry/internal/redistest"
)

// Syncing from a replica of the source spares the primary the snapshot and
// the replica link: the replica is an ordinary source to redferry. Writes on
// the primary reach the target through it, and a restart continues on the
// replica with a partial resync.
func TestSyncFromReplicaOfSource(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	primary := redistest.Start(t, redistest.Redis70, redistest.Options{Args: sourceArgs(false)})
	replica := redistest.Start(t, redistest.Redis70, redistest.Options{Args: sourceArgs(false)})
	dst := redistest.Start(t, redistest.Redis70, redistest.Options{})
	fillSource(t, ctx, primary, 300)
	replica.ReplicateFrom(t, primary)

	cfg := testConfig(t, replica, dst)
	r := startSyncer(t, ctx, cfg)
	stopLoad := load(t, ctx, primary, 11)
	time.Sleep(500 * time.Millisecond)
	stopLoad()
	replica.WaitCaughtUp(t, primary)
	waitCaughtUp(t, ctx, r.s, replica, r.errc)
	assertSameData(t, ctx, primary, dst)
	if err := r.stop(); err != nil {
		t.Fatalf("Run after a clean stop: %v", err)
	}
	fullBefore := syncStat(t, replica, "sync_full")

	// Writes on the primary while redferry is down, then a restart.
	stopLoad = load(t, ctx, primary, 12)
	time.Sleep(300 * time.Millisecond)
	stopLoad()
	r = startSyncer(t, ctx, cfg)
	replica.WaitCaughtUp(t, primary)
	waitCaughtUp(t, ctx, r.s, replica, r.errc)
	assertSameData(t, ctx, primary, dst)
	if n := syncStat(t, replica, "sync_partial_ok"); n < 1 {
		t.Errorf("the replica's sync_partial_ok = %d: the restart did not continue with PSYNC", n)
	}
	if n := syncStat(t, replica, "sync_full"); n != fullBefore {
		t.Errorf("the replica's sync_full went from %d to %d: the restart took a new snapshot", fullBefore, n)
	}
	if n := syncStat(t, primary, "sync_full"); n != 1 {
		t.Errorf("the primary served %d full syncs, want 1 (its replica's): redferry must not touch it", n)
	}
}
