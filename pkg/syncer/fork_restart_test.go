package syncer

import (
	"context"
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/spool"
)

// TestRestartOnPromotedReplicaAfterPings: redferry syncs from a plain
// (not sentinel-managed) primary whose replica is promoted; the old primary
// keeps sending redferry PINGs after the promotion, so redferry's spool
// ends past the promoted replica's history. redferry is restarted with the
// same state dir and the promoted replica as its source (the README's
// failover row): it cuts the PINGs off, continues with PSYNC — the promoted
// replica serves no full sync — and the target equals the new primary.
func TestRestartOnPromotedReplicaAfterPings(t *testing.T) {
	t.Parallel()
	for _, version := range []string{redistest.Redis60, redistest.Redis70, redistest.Valkey91} {
		t.Run(version, func(t *testing.T) {
			t.Parallel()
			restartOnPromotedReplicaAfterPings(t, version)
		})
	}
}

func restartOnPromotedReplicaAfterPings(t *testing.T, version string) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// A PING a second to the replicas: the old primary's PINGs reach
	// redferry within the test's few seconds after the promotion.
	args := append(sourceArgs(false), "repl-ping-replica-period", "1")
	primary := redistest.Start(t, version, redistest.Options{Args: args})
	replica := redistest.Start(t, version, redistest.Options{Args: args})
	dst := redistest.Start(t, version, redistest.Options{})
	fillSource(t, ctx, primary, 300)
	replica.ReplicateFrom(t, primary)
	cfg := testConfig(t, primary, dst)
	// A source that cannot continue stops the run (rather than emptying the
	// target for a new full sync), so that is what the test sees if the
	// PINGs are not cut.
	cfg.OnFullResync = "stop"
	r := startSyncer(t, ctx, cfg)
	stopLoad := load(t, ctx, primary, 61)
	time.Sleep(time.Second)
	stopLoad()
	// The only thing the old primary may send past the fork is PINGs: the
	// DELs of the load's short-lived keys go out before the promotion.
	expireLapsedKeys(t, ctx, primary)
	waitCaughtUp(t, ctx, r.s, primary, r.errc)

	fork := promoteAtFork(t, replica, primary)
	// The old primary, still up, goes on PINGing redferry past the fork.
	time.Sleep(2500 * time.Millisecond)
	if end := r.s.spool.End(); end <= fork {
		t.Fatalf("redferry's spool ends at %d, not past the promoted replica's fork %d: no PING came after the promotion, the test tests nothing", end, fork)
	} else {
		t.Logf("spool end %d, fork %d: %q past the fork", end, fork, readSpool(t, r.s.spool, fork, end))
	}
	if err := r.stop(); err != nil {
		t.Fatalf("stopping redferry: %v", err)
	}

	stopLoad = load(t, ctx, replica, 62) // writes while redferry is down
	time.Sleep(time.Second)
	stopLoad()
	r = continueOnPromoted(t, ctx, cfg, replica, dst, 63)
	if n := syncStat(t, replica, "sync_partial_ok"); n < 1 {
		t.Errorf("the promoted replica served %d partial syncs, want at least 1", n)
	}
	select {
	case err := <-r.errc:
		t.Fatalf("the sync stopped: %v", err)
	default:
	}
}

// expireLapsedKeys deletes the keys of the write load whose TTL (at most
// 520 ms for the short-lived ones) has lapsed, so the server propagates
// their DELs now rather than on its own later. SCAN deletes the lapsed keys
// it passes (KEYS only hides them).
func expireLapsedKeys(t *testing.T, ctx context.Context, srv *redistest.Server) {
	t.Helper()
	time.Sleep(600 * time.Millisecond)
	for db := range 3 { // the load's dbs (redistest.Workload's default)
		c := srv.ClientDB(db)
		it := c.Scan(ctx, 0, "*", 1000).Iterator()
		for it.Next(ctx) {
		}
		c.Close()
		if err := it.Err(); err != nil {
			t.Fatalf("scanning db %d of %s: %v", db, srv.Name, err)
		}
	}
}

// readSpool reads the spooled stream's bytes in [from, to).
func readSpool(t *testing.T, sp *spool.Spool, from, to int64) string {
	t.Helper()
	r, err := sp.NewReader(from)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(&boundedReader{ctx: context.Background(), r: r, end: to})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// promoteAtFork promotes replica once it has caught up with primary and
// returns the offset where its history forks from primary's.
func promoteAtFork(t *testing.T, replica, primary *redistest.Server) int64 {
	t.Helper()
	replica.WaitCaughtUp(t, primary)
	replica.Promote(t)
	second, err := strconv.ParseInt(replica.InfoField(t, "replication", "second_repl_offset"), 10, 64)
	if err != nil || second <= 0 {
		t.Fatalf("the promoted replica's second_repl_offset is %d (%v): it does not continue the old primary's history", second, err)
	}
	return second - 1
}
