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

// TestKillDuringSnapshotWindow kills redferry with SIGKILL several times
// while it rebuilds the snapshot by commands with several batches in flight
// on the target (the snapshot window), and starts it again each time. The
// keys are the ones a redo would corrupt if the checkpoint claimed too
// much: lists split over many batches (RPUSH twice would duplicate), streams
// with pending entries, strings rebuilt in pieces. At the end the target
// equals the source, and every restart continued from the checkpoint
// (PSYNC, no new snapshot).
func TestKillDuringSnapshotWindow(t *testing.T) {
	if testing.Short() {
		t.Skip("kill test: -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	src := killSource(t, "64mb")
	dst := redistest.Start(t, redistest.Valkey91, redistest.Options{})
	sc := src.Client()
	defer sc.Close()
	wl := &redistest.Workload{Seed: 7, Version: src.Version}
	if err := wl.Fill(ctx, sc, 6000); err != nil {
		t.Fatal(err)
	}
	for i := range 6 { // lists far longer than a batch: each is split over several
		for j := 0; j < 30000; j += 1000 {
			args := make([]any, 0, 1000)
			for k := j; k < j+1000; k++ {
				args = append(args, fmt.Sprintf("e%d", k))
			}
			if err := sc.RPush(ctx, fmt.Sprintf("big:list:%d", i), args...).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	rdbSize := savedSnapshotSize(t, ctx, src)
	// The target link is slowed so that the replay lasts a few seconds.
	dp := throttledProxy(t, dst.Addr, faultproxy.Upstream, max(rdbSize/3, 256<<10))

	rig := newKillRig(t)
	args := []string{"sync", "--source", src.URL(), "--target", "redis://" + dp.Addr(), "--state-dir", t.TempDir(),
		"--status-addr", rig.statusAddr, "--batch-commands", "200", "--replay-mode", "commands", "--log-level", "info"}

	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	kills := 0
	for i := 0; i < 5; i++ {
		cmd := rig.start(args)
		if phase := waitPhase(ctx, rig.statusAddr, "snapshot-replay", 30*time.Second); phase != "snapshot-replay" {
			rig.kill(cmd)
			if phase == "streaming" {
				break // the replay is done: no more kills to aim
			}
			t.Fatalf("restart %d: phase %q, want snapshot-replay", i, phase)
		}
		time.Sleep(time.Duration(200+rng.Intn(500)) * time.Millisecond)
		phase := readPhase(rig.statusAddr)
		rig.kill(cmd)
		if phase == "snapshot-replay" {
			kills++
		}
		t.Logf("kill %d in phase %s", i+1, phase)
	}
	if kills < 2 {
		t.Fatalf("only %d kills landed in the snapshot replay", kills)
	}
	dp.Throttle(faultproxy.Upstream, 0)
	rig.finish(ctx, args, src)

	if !strings.Contains(rig.logText(), "several batches in flight") {
		t.Fatal("the snapshot was not applied with a window of batches: the test did not test it")
	}
	dc := dst.Client()
	defer dc.Close()
	rep := assertKilledSyncEqual(t, ctx, sc, dc, fmt.Sprintf("%d kills in the snapshot replay", kills))
	if full, _ := strconv.Atoi(src.InfoField(t, "stats", "sync_full")); full != 1 {
		t.Errorf("sync_full = %d, want 1: every restart must continue from the checkpoint", full)
	}
	t.Logf("%d kills in the snapshot replay; %d keys equal", kills, rep.KeysChecked)
}
