package main

import (
	"context"
	"fmt"
	"math/rand"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redferry/redferry/internal/faultproxy"
	"github.com/redferry/redferry/internal/redistest"
)

// TestKillLoop kills redferry with SIGKILL at 20 moments spread over every
// phase (snapshot download, snapshot replay, streaming) while a
// non-idempotent write load runs on the source, and starts it again each
// time. At the end the target equals the source, and the source served a
// new full sync only for kills that landed before the snapshot was whole on
// disk: every other restart continued with PSYNC.
func TestKillLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("kill loop: -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	src := killSource(t, "256mb")
	dst := redistest.Start(t, redistest.Valkey91, redistest.Options{})
	sc := src.Client()
	defer sc.Close()
	wl := &redistest.Workload{Seed: 99, Version: src.Version, Functions: true}
	if err := wl.Fill(ctx, sc, 30000); err != nil {
		t.Fatal(err)
	}
	for i := range 4 { // a few big keys: one RDB entry, many target commands
		var args []any
		for j := range 20000 {
			args = append(args, fmt.Sprintf("member-%d-%d", i, j))
		}
		if err := sc.SAdd(ctx, fmt.Sprintf("big:set:%d", i), args...).Err(); err != nil {
			t.Fatal(err)
		}
	}
	// The source link is slowed so that the download lasts about 3 s and
	// can be hit; the stream needs far less.
	rdbSize := savedSnapshotSize(t, ctx, src)
	sp := throttledProxy(t, src.Addr, faultproxy.Downstream, max(rdbSize/3, 1<<20))
	t.Logf("snapshot of %d MB, download throttled to %d KB/s", rdbSize>>20, max(rdbSize/3, 1<<20)>>10)
	// The snapshot is applied while it downloads; the target link is slowed
	// too, so that the replay outlasts the download and can be hit after it.
	dp := throttledProxy(t, dst.Addr, faultproxy.Upstream, max(rdbSize/6, 1<<20))

	lw := &redistest.Workload{Seed: 100, Version: src.Version, Functions: true}
	stopLoad := backgroundLoad(t, ctx, 10*time.Millisecond, func(ctx context.Context) error { return lw.Run(ctx, sc, 100) })

	rig := newKillRig(t)
	args := []string{"sync", "--source", "redis://" + sp.Addr(), "--target", "redis://" + dp.Addr(), "--state-dir", t.TempDir(),
		"--status-addr", rig.statusAddr, "--batch-commands", "300"}

	// The phases to aim at, in order; a kill lands at a random moment once
	// the process is in its phase (or, when it is past it, right away).
	aims := []string{"snapshot-download", "snapshot-download", "snapshot-replay", "snapshot-replay", "snapshot-replay",
		"snapshot-replay", "streaming"}
	for len(aims) < 20 {
		aims = append(aims, "streaming")
	}
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	hits := map[string]int{}
	start := time.Now()
	var fullBefore, partialAfter int // kills that must cost a full sync / continue with PSYNC
	for i, aim := range aims {
		if aim == "streaming" {
			dp.Throttle(faultproxy.Upstream, 0) // the replay phases are behind us
		}
		wait := 400 // ms: the download and replay phases are a few seconds long
		if aim == "streaming" {
			wait = 1500
		}
		phase := rig.killInPhase(ctx, args, aim, 20*time.Second,
			func() time.Duration { return time.Duration(rng.Intn(wait)) * time.Millisecond }, nil)
		hits[phase]++
		switch phase {
		case "snapshot-replay", "streaming":
			partialAfter++
		default:
			fullBefore++ // may need a full sync again (or not, if the snapshot was committed just before)
		}
		t.Logf("kill %2d at %5.1fs in phase %s", i+1, time.Since(start).Seconds(), phase)
	}
	if err := stopLoad(); err != nil {
		t.Fatalf("write load: %v", err)
	}

	rig.finish(ctx, args, src)
	t.Logf("kills per phase: %v; caught up after %.1fs", hits, time.Since(start).Seconds())
	for _, p := range []string{"snapshot-download", "snapshot-replay", "streaming"} {
		if hits[p] == 0 {
			t.Errorf("no kill landed in phase %s", p)
		}
	}

	dc := dst.Client()
	defer dc.Close()
	rep := assertKilledSyncEqual(t, ctx, sc, dc, fmt.Sprintf("%d kills", len(aims)))
	full, _ := strconv.Atoi(src.InfoField(t, "stats", "sync_full"))
	partial, _ := strconv.Atoi(src.InfoField(t, "stats", "sync_partial_ok"))
	t.Logf("%d keys equal; source: sync_full %d, sync_partial_ok %d; torn spool ends cut at restart: %d",
		rep.KeysChecked, full, partial, strings.Count(rig.logText(), "ends inside a command"))
	if full < 1 || full > 1+fullBefore {
		t.Errorf("sync_full = %d, want 1 plus at most one per kill before the snapshot was on disk (%d)", full, fullBefore)
	}
	if partial < partialAfter {
		t.Errorf("sync_partial_ok = %d, want >= %d (one per restart after the snapshot)", partial, partialAfter)
	}
}
