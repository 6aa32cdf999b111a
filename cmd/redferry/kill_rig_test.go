package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redferry/redferry/internal/faultproxy"
	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/verify"
)

// killRig is what the kill tests share: a status address to watch the
// phase on, a log file that all runs append to and that is shown when the
// test fails, and redferry started, killed and started again.
type killRig struct {
	t          *testing.T
	statusAddr string
	logPath    string
	log        *os.File
}

func newKillRig(t *testing.T) *killRig {
	t.Helper()
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	r := &killRig{t: t, statusAddr: "127.0.0.1:" + strconv.Itoa(port), logPath: filepath.Join(t.TempDir(), "redferry.log")}
	if r.log, err = os.Create(r.logPath); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.log.Close()
		if t.Failed() {
			lines := strings.Split(r.logText(), "\n")
			t.Logf("last lines of redferry's log:\n%s", strings.Join(lines[max(0, len(lines)-60):], "\n"))
		}
	})
	return r
}

// killSource starts the Redis 7.0 source of a kill test: its snapshots go
// through disk at once, and its backlog (backlog, e.g. "256mb") holds what
// is written while redferry is down, so that a restart can continue with
// PSYNC.
func killSource(t *testing.T, backlog string) *redistest.Server {
	t.Helper()
	return redistest.Start(t, redistest.Redis70, redistest.Options{Args: []string{
		"repl-diskless-sync", "no", "repl-diskless-sync-delay", "0", "repl-backlog-size", backlog}})
}

// savedSnapshotSize saves the source's snapshot (SAVE) and returns its
// size, which the kill tests slow their links by.
func savedSnapshotSize(t *testing.T, ctx context.Context, src *redistest.Server) int64 {
	t.Helper()
	c := src.Client()
	defer c.Close()
	if err := c.Save(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(src.Dir, "dump.rdb"))
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// throttledProxy starts a proxy to addr that carries at most bytesPerSecond
// in direction d (per connection); it is closed when the test ends.
func throttledProxy(t *testing.T, addr string, d faultproxy.Direction, bytesPerSecond int64) *faultproxy.Proxy {
	t.Helper()
	p, err := faultproxy.Start(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	p.Throttle(d, bytesPerSecond)
	return p
}

// start starts redferry with args, its output going to the rig's log.
func (r *killRig) start(args []string) *exec.Cmd {
	r.t.Helper()
	return startRedferry(r.t, args, r.log)
}

// kill kills cmd with SIGKILL, as a crash would, and reaps it.
func (r *killRig) kill(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
}

// killInPhase starts redferry, waits until it reports phase aim or a later
// one (within wait), runs during (if any), lets it go on for a random time
// below jitter and kills it; it returns the phase it was killed in.
func (r *killRig) killInPhase(ctx context.Context, args []string, aim string, wait time.Duration, jitter func() time.Duration, during func()) string {
	r.t.Helper()
	accepted := strings.Count(r.logText(), replicationAccepted)
	cmd := r.start(args)
	phase := waitPhase(ctx, r.statusAddr, aim, wait)
	// The phase shows before the source answers PSYNC: a kill in between
	// would leave a restart that never asked for the stream.
	waitLogged(ctx, r.logText, replicationAccepted, accepted+1, wait)
	if during != nil {
		during()
	}
	time.Sleep(jitter())
	if p := readPhase(r.statusAddr); p != "" {
		phase = p
	}
	r.kill(cmd)
	return phase
}

// replicationAccepted is what redferry logs when the source answers PSYNC.
const replicationAccepted = "replication accepted"

// waitLogged waits up to limit until text holds line n times or more.
func waitLogged(ctx context.Context, text func() string, line string, n int, limit time.Duration) {
	for deadline := time.Now().Add(limit); time.Now().Before(deadline) && ctx.Err() == nil; {
		if strings.Count(text(), line) >= n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// finish starts redferry a last time and waits until it has applied all
// that src wrote; it is stopped (SIGTERM) when the test ends.
func (r *killRig) finish(ctx context.Context, args []string, src *redistest.Server) {
	r.t.Helper()
	cmd := r.start(args)
	r.t.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() })
	waitCaughtUpHTTP(r.t, ctx, r.statusAddr, src)
}

// finishCluster is finish for a cluster source: it waits until every
// master of src has a shard streaming and all they wrote is applied.
func (r *killRig) finishCluster(args []string, src *redistest.Cluster) {
	r.t.Helper()
	cmd := r.start(args)
	r.t.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() })
	waitClusterCaughtUp(r.t, src, r.statusAddr)
}

// logText is what all runs logged so far.
func (r *killRig) logText() string {
	b, _ := os.ReadFile(r.logPath)
	return string(b)
}

// backgroundLoad runs step again and again, pause apart, until stop, which
// returns step's first error (nil when it never failed). The load also
// stops when the test ends.
func backgroundLoad(t *testing.T, ctx context.Context, pause time.Duration, step func(context.Context) error) (stop func() error) {
	ctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	done := make(chan error, 1)
	go func() {
		for ctx.Err() == nil {
			if err := step(ctx); err != nil && ctx.Err() == nil {
				done <- err
				return
			}
			time.Sleep(pause)
		}
		done <- nil
	}()
	return func() error { cancel(); return <-done }
}

// assertKilledSyncEqual compares the source with the target, redferry's
// checkpoint keys left out, and fails the test if they differ, saying
// after what (e.g. "5 kills").
func assertKilledSyncEqual(t *testing.T, ctx context.Context, src, dst redis.UniversalClient, after string) verify.Report {
	t.Helper()
	rep, err := verify.Compare(ctx, src, dst, verify.Options{IgnoreKeys: func(_ int, key string) bool {
		return strings.HasPrefix(key, "redferry:checkpoint:")
	}})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Equal() {
		t.Fatalf("after %s the target differs from the source in %d of %d keys: %v", after, rep.DiffCount, rep.KeysChecked, rep.Diffs)
	}
	return rep
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
	return r, getStatus(addr, &r)
}

// getStatus decodes redferry's GET /status at addr into into; false when
// it does not answer or answers something else.
func getStatus(addr string, into any) bool {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + addr + "/status")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(into) == nil
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

// waitClusterCaughtUp waits until /status at addr shows one shard per
// master of src, all streaming, whose applied offsets add up to at least
// the masters' master_repl_offset summed.
func waitClusterCaughtUp(t *testing.T, src *redistest.Cluster, addr string) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		var want int64
		for _, m := range src.Masters {
			off, _ := strconv.ParseInt(m.InfoField(t, "replication", "master_repl_offset"), 10, 64)
			want += off
		}
		r, ok := readClusterStatus(addr)
		var applied int64
		for _, s := range r.Shards {
			applied += s.OffsetApplied
		}
		if ok && r.Phase == "streaming" && len(r.Shards) == len(src.Masters) && applied >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not caught up after the kills: status %+v, masters at %d in all", r, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
