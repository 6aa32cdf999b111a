package syncer

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/checkpoint"
	"github.com/redferry/redferry/pkg/server"
	"github.com/redferry/redferry/sink"
)

// TestRestartOnPromotedReplicaPastFork is TestRestartOnPromotedReplicaAfterPings
// where the target records positions past the promoted replica's fork
// when redferry restarts: a batch holding data before the fork and a PING
// after it was committed past the fork (made here by committing such a
// batch through the sink). The cut of the PINGs lowers those positions to
// the fork first. Left past it, a checkpoint asks the new master for bytes
// past its history (it offers a full sync, which on-full-resync = stop
// refuses), and a cluster target's slot marks skip the new master's first
// writes as applied ("killed before Done": the slots' transactions landed,
// the batch's Done did not, so the resume point is below the fork). The
// target must end equal to the new master, with no full sync.
func TestRestartOnPromotedReplicaPastFork(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		cluster bool
		// killedBeforeDone: the done slot's mark is put back as it was
		// before the batch past the fork.
		killedBeforeDone bool
	}{
		{name: "standalone"},
		{name: "cluster", cluster: true},
		{name: "cluster killed before Done", cluster: true, killedBeforeDone: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			restartPastFork(t, tc.cluster, tc.killedBeforeDone)
		})
	}
}

func restartPastFork(t *testing.T, cluster, killedBeforeDone bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	args := append(sourceArgs(false), "repl-ping-replica-period", "1")
	primary := redistest.Start(t, redistest.Redis70, redistest.Options{Args: args})
	replica := redistest.Start(t, redistest.Redis70, redistest.Options{Args: args})
	var dst *redistest.Server
	var cc *redis.ClusterClient
	if cluster {
		cl := redistest.StartCluster(t, redistest.Redis70, 3, redistest.Options{})
		dst, cc = cl.Masters[0], cl.Client()
		defer cc.Close()
	} else {
		dst = redistest.Start(t, redistest.Redis70, redistest.Options{})
	}
	writeForkKeys(t, ctx, primary, "k", 200)
	replica.ReplicateFrom(t, primary)
	cfg := testConfig(t, primary, dst)
	cfg.OnFullResync = "stop" // a full sync offered stops the run: the test sees it
	r := startSyncer(t, ctx, cfg)
	writeForkKeys(t, ctx, primary, "s", 100)
	waitCaughtUp(t, ctx, r.s, primary, r.errc)

	fork := promoteAtFork(t, replica, primary)
	// Enough PINGs past the fork that the new master's first write (a
	// SELECT and a SET) lies in (fork, spool end].
	waitFor(t, 20*time.Second, "the old primary's PINGs past the fork", func() bool { return r.s.spool.End() >= fork+70 })
	end, replID := r.s.spool.End(), r.s.spool.StreamReplID()
	if err := r.stop(); err != nil {
		t.Fatalf("stopping redferry: %v", err)
	}

	// The batch the applier could have committed: a value before the fork
	// (as the source has it) and a PING past it.
	opt, err := OptionsFromConfig(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	w, err := sink.Open(ctx, sink.Config{Addr: dst.Addr, CheckpointKey: opt.CheckpointKey, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	cp, err := w.LoadCheckpoint(ctx)
	if err != nil || cp == nil {
		t.Fatalf("the checkpoint redferry committed: %q, %v", cp, err)
	}
	st, err := checkpoint.Unmarshal(cp)
	if err != nil || st.ReplID != replID || st.Offset > fork {
		t.Fatalf("the checkpoint redferry committed = %+v (%v), want replid %s at or below the fork %d", st, err, replID, fork)
	}
	// The batch is applied as by the run that read no marks: its commands
	// all lie past the checkpoint read at its start.
	w.ForgetCheckpoint()
	doneMark := opt.CheckpointKey + "{" + server.SlotTags()[server.KeySlot(opt.CheckpointKey)] + "}"
	var doneBefore []byte
	if killedBeforeDone {
		if doneBefore, err = cc.Get(ctx, doneMark).Bytes(); err != nil {
			t.Fatalf("GET %s: %v", doneMark, err)
		}
	}
	rc := replica.Client()
	defer rc.Close()
	v1, err := rc.Get(ctx, "k:1").Result()
	if err != nil {
		t.Fatal(err)
	}
	st.Offset = end
	b := &sink.Batch{StartDB: st.DB, Checkpoint: st.Marshal()}
	b.AddStrings(fork, "SET", "k:1", v1)
	b.AddStrings(end, "PING")
	if err := w.Apply(ctx, b); err != nil {
		t.Fatal(err)
	}
	if killedBeforeDone {
		if err := cc.Set(ctx, doneMark, doneBefore, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}

	// The new master's first write, at an offset the positions past the
	// fork cover, then more.
	if err := rc.Set(ctx, "k:1", "new", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if at, err := strconv.ParseInt(replica.InfoField(t, "replication", "master_repl_offset"), 10, 64); err != nil || at > end {
		t.Fatalf("the new master's first write ends at offset %d (%v), past the old spool end %d: the test tests nothing", at, err, end)
	}
	writeForkKeys(t, ctx, replica, "n", 50)

	cfg.Source = replica.URL()
	r = startSyncer(t, ctx, cfg)
	defer r.stop()
	waitCaughtUp(t, ctx, r.s, replica, r.errc)
	if cluster {
		assertClusterEqualsSource(t, ctx, rc, cc)
	} else {
		assertSameData(t, ctx, replica, dst)
	}
	if n := syncStat(t, replica, "sync_full"); n != 0 {
		t.Errorf("the promoted replica served %d full syncs, want 0", n)
	}
}

// writeForkKeys writes n keys prefix:i across the slots, in db 0 (a
// cluster target's only db), and counts every write in prefix:count.
func writeForkKeys(t *testing.T, ctx context.Context, srv *redistest.Server, prefix string, n int) {
	t.Helper()
	c := srv.Client()
	defer c.Close()
	for i := range n {
		if err := c.Set(ctx, fmt.Sprintf("%s:%d", prefix, i), i, 0).Err(); err != nil {
			t.Fatal(err)
		}
		if err := c.Incr(ctx, prefix+":count").Err(); err != nil {
			t.Fatal(err)
		}
	}
}
