package main

import (
	"context"
	"fmt"
	"math/rand"
	"strconv"
	"testing"
	"time"

	"github.com/redferry/redferry/internal/redistest"
)

// TestClusterTargetKills syncs a standalone source into a cluster of three
// masters with replicas under a non-idempotent load with cross-slot
// commands, and kills redferry with SIGKILL in the snapshot replay and
// several times while streaming; between the kills a target slot migration
// and a target failover happen, one of each while redferry runs and one
// while it is down. At the end the target equals the source (nothing lost,
// nothing applied twice) and only one full sync was taken.
func TestClusterTargetKills(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster kill loop: -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	src := killSource(t, "256mb")
	cl := redistest.StartClusterWithReplicas(t, redistest.Valkey91, 3, 1, redistest.Options{})
	sc := src.Client()
	defer sc.Close()
	wl := &redistest.Workload{Seed: 5, Version: src.Version, Functions: true, DBs: 1}
	if err := wl.Fill(ctx, sc, 10000); err != nil {
		t.Fatal(err)
	}
	for i := range 2 { // big keys: one RDB entry, many target commands over several batches
		var args []any
		for j := range 20000 {
			args = append(args, fmt.Sprintf("member-%d-%d", i, j))
		}
		if err := sc.SAdd(ctx, fmt.Sprintf("big:set:%d", i), args...).Err(); err != nil {
			t.Fatal(err)
		}
	}

	loadRand := rand.New(rand.NewSource(11))
	stopLoad := backgroundLoad(t, ctx, 5*time.Millisecond, func(ctx context.Context) error {
		return redistest.CrossSlotLoad(ctx, sc, loadRand, 50)
	})

	rig := newKillRig(t)
	// The target is given as its master 1, which no failover here moves.
	args := []string{"sync", "--source", src.URL(), "--target", "redis://" + cl.Masters[1].Addr, "--state-dir", t.TempDir(),
		"--status-addr", rig.statusAddr, "--batch-commands", "300"}
	slotsOf := func(master, n int) []int {
		var out []int
		for i := 0; i < 40 && len(out) < n; i++ {
			s := cl.SlotOf(t, redistest.CrossSlotKey("n", i))
			if cl.Owner(t, s) == master {
				out = append(out, s)
			}
		}
		return out
	}
	// What happens to the target's topology before each kill (running)
	// or after it (down).
	type step struct {
		aim          string
		running      func()
		whileStopped func()
	}
	steps := []step{
		{aim: "snapshot-replay"},
		{aim: "streaming"},
		{aim: "streaming", running: func() { cl.MigrateSlots(t, 0, 2, slotsOf(0, 3)...) }},
		{aim: "streaming", whileStopped: func() { cl.MigrateSlots(t, 2, 1, slotsOf(2, 2)...) }},
		{aim: "streaming", running: func() { cl.Failover(t, 2) }},
		{aim: "streaming", whileStopped: func() { cl.Failover(t, 0) }},
	}
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	hits := map[string]int{}
	for i, st := range steps {
		phase := rig.killInPhase(ctx, args, st.aim, 30*time.Second,
			func() time.Duration { return time.Duration(rng.Intn(700)) * time.Millisecond }, st.running)
		hits[phase]++
		t.Logf("kill %d in phase %s", i+1, phase)
		if st.whileStopped != nil {
			st.whileStopped()
		}
	}
	if err := stopLoad(); err != nil {
		t.Fatalf("write load: %v", err)
	}
	rig.finish(ctx, args, src)
	if hits["streaming"] < 3 {
		t.Errorf("kills per phase %v: want at least 3 while streaming", hits)
	}

	cc := cl.Client()
	defer cc.Close()
	rep := assertKilledSyncEqual(t, ctx, sc, cc, fmt.Sprintf("%d kills (a cluster target)", len(steps)))
	full, _ := strconv.Atoi(src.InfoField(t, "stats", "sync_full"))
	partial, _ := strconv.Atoi(src.InfoField(t, "stats", "sync_partial_ok"))
	t.Logf("kills per phase %v; %d keys equal; source: sync_full %d, sync_partial_ok %d", hits, rep.KeysChecked, full, partial)
	if full != 1 {
		t.Errorf("sync_full = %d, want 1: every restart after the snapshot was on disk continues with PSYNC", full)
	}
}
