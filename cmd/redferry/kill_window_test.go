package main

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redferry/redferry/internal/faultproxy"
	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/verify"
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
	src := redistest.Start(t, redistest.Redis70, redistest.Options{Args: []string{
		"repl-diskless-sync", "no", "repl-diskless-sync-delay", "0", "repl-backlog-size", "64mb"}})
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
	if err := sc.Save(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	rdb, err := os.Stat(filepath.Join(src.Dir, "dump.rdb"))
	if err != nil {
		t.Fatal(err)
	}
	// The target link is slowed so that the replay lasts a few seconds.
	dp, err := faultproxy.Start(dst.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer dp.Close()
	dp.Throttle(faultproxy.Upstream, max(rdb.Size()/3, 256<<10))

	state := t.TempDir()
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	statusAddr := "127.0.0.1:" + strconv.Itoa(port)
	args := []string{"sync", "--source", src.URL(), "--target", "redis://" + dp.Addr(), "--state-dir", state,
		"--status-addr", statusAddr, "--batch-commands", "200", "--replay-mode", "commands", "--log-level", "info"}
	logPath := filepath.Join(t.TempDir(), "redferry.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	defer func() {
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			lines := strings.Split(string(b), "\n")
			t.Logf("last lines of redferry's log:\n%s", strings.Join(lines[max(0, len(lines)-60):], "\n"))
		}
	}()

	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	kills := 0
	for i := 0; i < 5; i++ {
		cmd := startRedferry(t, args, logf)
		if phase := waitPhase(ctx, statusAddr, "snapshot-replay", 30*time.Second); phase != "snapshot-replay" {
			_ = cmd.Process.Signal(syscall.SIGKILL)
			_ = cmd.Wait()
			if phase == "streaming" {
				break // the replay is done: no more kills to aim
			}
			t.Fatalf("restart %d: phase %q, want snapshot-replay", i, phase)
		}
		time.Sleep(time.Duration(200+rng.Intn(500)) * time.Millisecond)
		phase := readPhase(statusAddr)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		if phase == "snapshot-replay" {
			kills++
		}
		t.Logf("kill %d in phase %s", i+1, phase)
	}
	if kills < 2 {
		t.Fatalf("only %d kills landed in the snapshot replay", kills)
	}
	dp.Throttle(faultproxy.Upstream, 0)
	cmd := startRedferry(t, args, logf)
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()
	waitCaughtUpHTTP(t, ctx, statusAddr, src)

	logText, _ := os.ReadFile(logPath)
	if !strings.Contains(string(logText), "several batches in flight") {
		t.Fatal("the snapshot was not applied with a window of batches: the test did not test it")
	}
	dc := dst.Client()
	defer dc.Close()
	rep, err := verify.Compare(ctx, sc, dc, verify.Options{IgnoreKeys: func(_ int, key string) bool {
		return strings.HasPrefix(key, "redferry:checkpoint:")
	}})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Equal() {
		t.Fatalf("after %d kills in the snapshot replay the target differs from the source in %d of %d keys: %v",
			kills, rep.DiffCount, rep.KeysChecked, rep.Diffs)
	}
	if full, _ := strconv.Atoi(src.InfoField(t, "stats", "sync_full")); full != 1 {
		t.Errorf("sync_full = %d, want 1: every restart must continue from the checkpoint", full)
	}
	t.Logf("%d kills in the snapshot replay; %d keys equal", kills, rep.KeysChecked)
}
