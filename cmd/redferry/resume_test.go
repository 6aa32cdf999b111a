package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"net/http"
	"os"
	"os/exec"
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
	src := redistest.Start(t, redistest.Redis70, redistest.Options{Args: []string{
		"repl-diskless-sync", "no", "repl-diskless-sync-delay", "0", "repl-backlog-size", "256mb"}})
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
	if err := sc.Save(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	rdb, err := os.Stat(filepath.Join(src.Dir, "dump.rdb"))
	if err != nil {
		t.Fatal(err)
	}
	sp, err := faultproxy.Start(src.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	sp.Throttle(faultproxy.Downstream, max(rdb.Size()/3, 1<<20))
	t.Logf("snapshot of %d MB, download throttled to %d KB/s", rdb.Size()>>20, max(rdb.Size()/3, 1<<20)>>10)
	// The snapshot is applied while it downloads; the target link is slowed
	// too, so that the replay outlasts the download and can be hit after it.
	dp, err := faultproxy.Start(dst.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer dp.Close()
	dp.Throttle(faultproxy.Upstream, max(rdb.Size()/6, 1<<20))

	loadCtx, stopLoad := context.WithCancel(ctx)
	loadDone := make(chan error, 1)
	go func() {
		lw := &redistest.Workload{Seed: 100, Version: src.Version, Functions: true}
		for loadCtx.Err() == nil {
			if err := lw.Run(loadCtx, sc, 100); err != nil && loadCtx.Err() == nil {
				loadDone <- err
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		loadDone <- nil
	}()
	defer stopLoad()

	state := t.TempDir()
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	statusAddr := "127.0.0.1:" + strconv.Itoa(port)
	args := []string{"sync", "--source", "redis://" + sp.Addr(), "--target", "redis://" + dp.Addr(), "--state-dir", state,
		"--status-addr", statusAddr, "--batch-commands", "300"}
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
		cmd := startRedferry(t, args, logf)
		phase := waitPhase(ctx, statusAddr, aim, 20*time.Second)
		wait := 400 // ms: the download and replay phases are a few seconds long
		if aim == "streaming" {
			wait = 1500
		}
		time.Sleep(time.Duration(rng.Intn(wait)) * time.Millisecond)
		if p := readPhase(statusAddr); p != "" {
			phase = p
		}
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		hits[phase]++
		switch phase {
		case "snapshot-replay", "streaming":
			partialAfter++
		default:
			fullBefore++ // may need a full sync again (or not, if the snapshot was committed just before)
		}
		t.Logf("kill %2d at %5.1fs in phase %s", i+1, time.Since(start).Seconds(), phase)
	}
	stopLoad()
	if err := <-loadDone; err != nil {
		t.Fatalf("write load: %v", err)
	}

	cmd := startRedferry(t, args, logf)
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()
	waitCaughtUpHTTP(t, ctx, statusAddr, src)
	t.Logf("kills per phase: %v; caught up after %.1fs", hits, time.Since(start).Seconds())
	for _, p := range []string{"snapshot-download", "snapshot-replay", "streaming"} {
		if hits[p] == 0 {
			t.Errorf("no kill landed in phase %s", p)
		}
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
		t.Fatalf("after %d kills the target differs from the source in %d of %d keys: %v", len(aims), rep.DiffCount, rep.KeysChecked, rep.Diffs)
	}
	full, _ := strconv.Atoi(src.InfoField(t, "stats", "sync_full"))
	partial, _ := strconv.Atoi(src.InfoField(t, "stats", "sync_partial_ok"))
	logText, _ := os.ReadFile(logPath)
	t.Logf("%d keys equal; source: sync_full %d, sync_partial_ok %d; torn spool ends cut at restart: %d",
		rep.KeysChecked, full, partial, strings.Count(string(logText), "ends inside a command"))
	if full < 1 || full > 1+fullBefore {
		t.Errorf("sync_full = %d, want 1 plus at most one per kill before the snapshot was on disk (%d)", full, fullBefore)
	}
	if partial < partialAfter {
		t.Errorf("sync_partial_ok = %d, want >= %d (one per restart after the snapshot)", partial, partialAfter)
	}
}

func startRedferry(t *testing.T, args []string, log *os.File) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "REDFERRY_LOG_FORMAT=json", "REDFERRY_PROGRESS=never")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

type statusReport struct {
	Phase         string `json:"phase"`
	OffsetApplied int64  `json:"offset_applied"`
}

func readStatus(addr string) (statusReport, bool) {
	var r statusReport
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + addr + "/status")
	if err != nil {
		return r, false
	}
	defer resp.Body.Close()
	return r, json.NewDecoder(resp.Body).Decode(&r) == nil
}

func readPhase(addr string) string { r, _ := readStatus(addr); return r.Phase }

// phaseOrder ranks phases, so a process already past the aimed phase is
// killed at once rather than waited for.
var phaseOrder = map[string]int{"starting": 0, "handshake": 1, "snapshot-download": 2, "snapshot-replay": 3, "streaming": 4}

// waitPhase waits until the process reports phase aim or a later one, and
// returns the phase seen.
func waitPhase(ctx context.Context, addr, aim string, limit time.Duration) string {
	deadline := time.Now().Add(limit)
	last := ""
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if p := readPhase(addr); p != "" {
			last = p
			if phaseOrder[p] >= phaseOrder[aim] {
				return p
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return last
}

// waitCaughtUpHTTP waits until /status shows the source's whole stream applied.
func waitCaughtUpHTTP(t *testing.T, ctx context.Context, addr string, src *redistest.Server) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		want, _ := strconv.ParseInt(src.InfoField(t, "replication", "master_repl_offset"), 10, 64)
		if r, ok := readStatus(addr); ok && r.Phase == "streaming" && r.OffsetApplied >= want {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	r, _ := readStatus(addr)
	t.Fatalf("not caught up after the kills: status %+v", r)
}
