package syncer

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/status"
	"github.com/redferry/redferry/pkg/verify"
	"github.com/redferry/redferry/sink"
)

// runClusterLoad runs redistest.CrossSlotLoad in the background until stop
// is called; with moves, redistest.CrossSlotMovesLoad too.
func runClusterLoad(t *testing.T, ctx context.Context, c *redis.Client, seed int64, moves bool) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		r := rand.New(rand.NewSource(seed))
		for ctx.Err() == nil {
			if err := redistest.CrossSlotLoad(ctx, c, r, 50); err != nil && ctx.Err() == nil {
				t.Errorf("write load: %v", err)
				return
			}
			if moves {
				if err := redistest.CrossSlotMovesLoad(ctx, c, r, 30); err != nil && ctx.Err() == nil {
					t.Errorf("write load of moves: %v", err)
					return
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return func() { cancel(); wg.Wait() }
}

// slotsOf returns up to n slots, served by Masters[master], of keys the load writes.
func slotsOf(t *testing.T, cl *redistest.Cluster, master, n int) []int {
	var out []int
	seen := map[int]bool{}
	for _, ns := range []string{"n", "l", "a", "s", "m"} {
		for i := range 40 {
			s := cl.SlotOf(t, redistest.CrossSlotKey(ns, i))
			if !seen[s] && cl.Owner(t, s) == master {
				seen[s] = true
				out = append(out, s)
				if len(out) == n {
					return out
				}
			}
		}
	}
	return out
}

// TestSyncIntoCluster: a standalone source into a cluster of 3 masters
// with replicas, under a non-idempotent load with cross-slot commands; in
// the middle, a target slot migration, a target failover and a restart of
// redferry. At the end the target equals the source. `make test` runs one
// pair; REDFERRY_CLUSTER_MATRIX=1 (make cluster-targets) runs them all.
func TestSyncIntoCluster(t *testing.T) {
	pairs := [][2]string{{redistest.Redis70, redistest.Redis70}}
	if os.Getenv("REDFERRY_CLUSTER_MATRIX") != "" {
		pairs = append(pairs, [][2]string{
			{redistest.Valkey91, redistest.Redis80}, {redistest.Redis80, redistest.Valkey91},
			{redistest.Redis86, redistest.Redis86}, {redistest.Valkey81, redistest.Valkey81},
			{redistest.Redis70, redistest.Valkey91}, {redistest.Valkey91, redistest.Redis806},
		}...)
	}
	for _, p := range pairs {
		t.Run(p[0]+"_to_cluster_of_"+p[1], func(t *testing.T) { syncIntoCluster(t, p[0], p[1], false) })
	}
}

// syncIntoCluster: see TestSyncIntoCluster; moves adds
// redistest.CrossSlotMovesLoad to the load (a source of 6.2+).
func syncIntoCluster(t *testing.T, source, target string, moves bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	src := redistest.Start(t, source, redistest.Options{Args: sourceArgs(false)})
	cl := redistest.StartClusterWithReplicas(t, target, 3, 1, redistest.Options{})
	sc := src.Client()
	defer sc.Close()
	// Redis 6.0 has no functions to hold the workload's library.
	wl := &redistest.Workload{Seed: 7, Version: src.Version, Functions: !strings.HasPrefix(target, "redis-6"), DBs: 1}
	if err := wl.Fill(ctx, sc, 2000); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, src, cl.Masters[1])
	cfg.BatchCommands = 200

	r := startSyncer(t, ctx, cfg)
	stopLoad := runClusterLoad(t, ctx, sc, 1, moves)
	defer stopLoad()
	waitFor(t, 60*time.Second, "streaming", func() bool {
		select {
		case <-r.done:
			t.Fatalf("the sync ended before streaming: %v", r.err)
		default:
		}
		return r.s.Tracker().Phase() == status.PhaseStreaming
	})
	time.Sleep(500 * time.Millisecond)

	slots := slotsOf(t, cl, 0, 3)
	t.Logf("migrating slots %v from master 0 to master 1 during the sync", slots)
	cl.MigrateSlots(t, 0, 1, slots...)
	time.Sleep(300 * time.Millisecond)
	t.Logf("failing over master 2 during the sync")
	cl.Failover(t, 2)
	time.Sleep(300 * time.Millisecond)

	if err := r.stop(); err != nil {
		t.Fatalf("Run after a clean stop: %v", err)
	}
	slots = slotsOf(t, cl, 1, 2)
	t.Logf("migrating slots %v from master 1 to master 2 while redferry is down", slots)
	cl.MigrateSlots(t, 1, 2, slots...)
	r = startSyncer(t, ctx, cfg)
	time.Sleep(time.Second)
	stopLoad()
	waitCaughtUp(t, ctx, r.s, src, r.errc)

	cc := cl.Client()
	defer cc.Close()
	rep, err := verify.Compare(ctx, sc, cc, verify.Options{IgnoreKeys: func(_ int, key string) bool {
		return strings.HasPrefix(key, "redferry:checkpoint:")
	}})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Equal() {
		var b strings.Builder
		for _, d := range rep.Diffs {
			fmt.Fprintf(&b, "  db%d %q %s: %s\n", d.DB, d.Key, d.Kind, d.Detail)
		}
		t.Fatalf("target cluster differs from the source: %d of %d keys:\n%s", rep.DiffCount, rep.KeysChecked, b.String())
	}
	t.Logf("%d keys equal; source sync_full %d, sync_partial_ok %d", rep.KeysChecked, syncStat(t, src, "sync_full"),
		syncStat(t, src, "sync_partial_ok"))
	if n := syncStat(t, src, "sync_full"); n != 1 {
		t.Errorf("sync_full = %d, want 1 (the restart continues with PSYNC)", n)
	}
}

// TestSyncIntoClusterCrossSlotTransaction: a source transaction writing
// keys in different slots stops a sync into a cluster with an error naming
// it (on-cross-slot = stop), or is applied one slot at a time (split).
func TestSyncIntoClusterCrossSlotTransaction(t *testing.T) {
	src := redistest.Start(t, redistest.Redis70, redistest.Options{Args: sourceArgs(false)})
	cl := redistest.StartCluster(t, redistest.Redis70, 3, redistest.Options{})
	sc := src.Client()
	defer sc.Close()
	for _, mode := range []string{"stop", "split"} {
		t.Run(mode, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := sc.FlushAll(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			cfg := testConfig(t, src, cl.Masters[0])
			// Each run its own checkpoint: the second starts afresh (flush-target).
			cfg.OnCrossSlot, cfg.FlushTarget, cfg.Name = mode, true, "xslot-"+mode
			r := startSyncer(t, ctx, cfg)
			waitFor(t, 30*time.Second, "streaming", func() bool { return r.s.Tracker().Phase() == status.PhaseStreaming })
			if _, err := sc.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Incr(ctx, "tx:a")
				p.Incr(ctx, "tx:b")
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if mode == "stop" {
				select {
				case err := <-r.errc:
					if !errors.Is(err, sink.ErrCrossSlot) || !strings.Contains(err.Error(), "INCR INCR") {
						t.Fatalf("Run = %v, want sink.ErrCrossSlot naming the transaction", err)
					}
					t.Logf("stopped: %v", err)
				case <-time.After(20 * time.Second):
					t.Fatal("the sync went on past a cross-slot transaction")
				}
				return
			}
			waitCaughtUp(t, ctx, r.s, src, r.errc)
			cc := cl.Client()
			defer cc.Close()
			for _, k := range []string{"tx:a", "tx:b"} {
				if v, err := cc.Get(ctx, k).Result(); err != nil || v != "1" {
					t.Errorf("GET %s on the target = %q, %v; want 1", k, v, err)
				}
			}
		})
	}
}
