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

// A replica passes its master's stream on as is, so the stream a snapshot
// of the replica is followed by continues in the db its master had selected,
// without a SELECT; the snapshot names that db (repl-stream-db). The writes
// after the snapshot, and after a restart right behind it, must land in
// that db.
func TestSyncFromReplicaContinuesInItsStreamDB(t *testing.T) {
	for _, version := range []string{redistest.Redis60, redistest.Valkey91} {
		t.Run(version, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			primary := redistest.Start(t, version, redistest.Options{Args: sourceArgs(false)})
			replica := redistest.Start(t, version, redistest.Options{Args: sourceArgs(false)})
			dst := redistest.Start(t, version, redistest.Options{})
			replica.ReplicateFrom(t, primary)
			db2 := primary.ClientDB(2)
			defer db2.Close()
			set := func(key string) {
				t.Helper()
				if err := db2.Set(ctx, key, "in db 2", 0).Err(); err != nil {
					t.Fatal(err)
				}
				replica.WaitCaughtUp(t, primary)
			}
			set("before") // the primary's stream selects db 2 here, once

			cfg := testConfig(t, replica, dst)
			r := startSyncer(t, ctx, cfg)
			waitCaughtUp(t, ctx, r.s, replica, r.errc)
			set("after-snapshot")
			waitCaughtUp(t, ctx, r.s, replica, r.errc)
			assertSameData(t, ctx, primary, dst)
			if err := r.stop(); err != nil {
				t.Fatalf("Run after a clean stop: %v", err)
			}

			set("while-stopped")
			r = startSyncer(t, ctx, cfg)
			waitCaughtUp(t, ctx, r.s, replica, r.errc)
			set("after-restart")
			waitCaughtUp(t, ctx, r.s, replica, r.errc)
			assertSameData(t, ctx, primary, dst)
			if n := syncStat(t, replica, "sync_full"); n != 1 {
				t.Errorf("the replica served %d full syncs, want 1: the restart must continue with PSYNC", n)
			}
			if err := r.stop(); err != nil {
				t.Fatalf("Run after a clean stop: %v", err)
			}
		})
	}
}
