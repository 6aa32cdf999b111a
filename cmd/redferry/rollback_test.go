package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/checkpoint"
	"github.com/redferry/redferry/pkg/status"
	"github.com/redferry/redferry/pkg/verify"
)

// TestRollbackReadyCutover: sync, cutover with --keep-rollback, clients write
// non-idempotent commands to the target, redferry is killed (-9) while the
// reverse link runs and restarted, then `redferry rollback`: the old source
// equals the target, every counter counts each write once, and no full sync
// happened after the first in either direction, the forward sync started
// again after the rollback included. One pair has a target without a
// backlog of its own (redferry makes one, at the cost of one discarded
// snapshot), the other a target with a replica (no cost).
func TestRollbackReadyCutover(t *testing.T) {
	type pair struct {
		source, target string
		targetReplica  bool
		path           string
	}
	pairs := []pair{
		{redistest.Redis70, redistest.Redis80, false, "created-backlog"},
		{redistest.Redis70, redistest.Valkey91, true, "existing-backlog"},
	}
	if os.Getenv("REDFERRY_ROLLBACK_MATRIX") != "" { // make rollback-matrix
		pairs = append(pairs,
			pair{redistest.Redis60, redistest.Redis80, true, "existing-backlog"}, // CLIENT PAUSE ALL on the old source
			pair{redistest.Valkey81, redistest.Valkey91, false, "created-backlog"},
			pair{redistest.Redis70, redistest.Redis86, false, "created-backlog"},
		)
	}
	for _, tc := range pairs {
		t.Run(tc.source+"_to_"+tc.target, func(t *testing.T) {
			fast := redistest.Options{Args: []string{"repl-diskless-sync-delay", "0"}}
			src := redistest.Start(t, tc.source, fast)
			dst := redistest.Start(t, tc.target, fast)
			if tc.targetReplica {
				redistest.Start(t, tc.target, redistest.Options{}).ReplicateFrom(t, dst)
			}
			dstFullBefore := syncFull(t, dst)
			fill(t, src, 300)
			state := t.TempDir()
			args := []string{"--source", src.URL(), "--target", dst.URL(), "--state-dir", state}
			d := startDaemon(t, nil, args...)

			// Clients write to the source, then the cutover.
			ctx, cancel := context.WithCancel(context.Background())
			load := writeLoad(ctx, t, src)
			time.Sleep(500 * time.Millisecond)
			cancel()
			if err := <-load; err != nil {
				t.Fatal(err)
			}
			// Refused before anything happens: a rollback without a reverse
			// link, a rollback-ready cutover without a pause.
			for _, bad := range []struct {
				args []string
				says string
			}{
				{[]string{"rollback"}, "no reverse link runs"},
				{[]string{"cutover", "--keep-rollback"}, "--keep-rollback needs --pause"},
			} {
				out, code := run(t, time.Minute, append(bad.args, "--status-addr", d.addr)...)
				if code == 0 || !strings.Contains(out, bad.says) {
					t.Fatalf("redferry %v exited %d without saying %q:\n%s", bad.args, code, bad.says, out)
				}
			}
			out, code := run(t, time.Minute, "cutover", "--status-addr", d.addr, "--pause", "5s", "--timeout", "30s", "--keep-rollback")
			if code != 0 {
				t.Fatalf("cutover --keep-rollback exited %d:\n%s\nsync log:\n%s", code, out, d.out.String())
			}
			if !strings.Contains(out, "rollback kept") || !strings.Contains(out, "reverse link start: "+tc.path) ||
				!strings.Contains(out, "switch clients now") {
				t.Fatalf("cutover output lacks the rollback lines (path %s):\n%s", tc.path, out)
			}
			t.Logf("cutover:\n%s", out)
			// The forward sync stopped at the cutover: the source has nothing
			// the target lacks.
			mustEqual(t, "after the cutover", src, dst)

			// Clients move to the target; redferry is killed mid-way.
			counts := &targetWrites{}
			ctx, cancel = context.WithCancel(context.Background())
			loadDone := counts.run(ctx, t, dst)
			waitReverseApplied(t, d, 1)
			_ = d.cmd.Process.Kill() // kill -9
			_ = d.cmd.Wait()
			time.Sleep(300 * time.Millisecond)
			rd := startDaemonUntil(t, reverseStreaming, args...)
			d = rd.daemon
			time.Sleep(500 * time.Millisecond)
			cancel()
			if err := <-loadDone; err != nil {
				t.Fatal(err)
			}
			rounds := counts.rounds.Load()
			if rounds < 10 {
				t.Fatalf("the target load ran only %d rounds", rounds)
			}

			if code, why := d.get("/readyz"); code != 200 {
				t.Fatalf("/readyz while the reverse link streams: %d %s", code, why)
			}
			_, st := d.get("/status")
			if !strings.Contains(st, `"phase": "reverse"`) {
				t.Fatalf("/status does not show the reverse phase:\n%s", st)
			}
			if _, m := d.get("/metrics"); !strings.Contains(m, `redferry_rollback_phase{phase="reverse"} 1`) ||
				!strings.Contains(m, "redferry_reverse_lag_bytes ") || !strings.Contains(m, "redferry_cutover_target_offset ") {
				t.Fatalf("/metrics lacks the rollback metrics:\n%.3000s", m)
			}
			sout, _ := run(t, time.Minute, "status", "--status-addr", d.addr)
			if !strings.Contains(sout, "migration phase:   reverse") || !strings.Contains(sout, "reverse lag:") {
				t.Fatalf("redferry status does not show the reverse link:\n%s", sout)
			}

			if out, code := run(t, time.Minute, "cutover", "--status-addr", d.addr, "--pause", "2s"); code == 0 || !strings.Contains(out, "the reverse link runs") {
				t.Fatalf("a cutover while the reverse link runs exited %d:\n%s", code, out)
			}
			out, code = run(t, time.Minute, "rollback", "--status-addr", d.addr, "--pause", "5s", "--timeout", "30s")
			if code != 0 {
				t.Fatalf("rollback exited %d:\n%s\nsync log:\n%s", code, out, d.out.String())
			}
			if !regexp.MustCompile(`the old source is current at offset \d+ .*switch clients back now`).MatchString(out) {
				t.Fatalf("rollback output lacks the offset line:\n%s", out)
			}
			t.Logf("rollback:\n%s", out)
			mustEqual(t, "after the rollback", src, dst)
			// The old source holds the reverse link's checkpoint, the cutover
			// point and where the forward sync resumes.
			sc := src.Client()
			for _, key := range []string{"reverse", "cutover", "rolled-back"} {
				v, err := sc.Get(context.Background(), checkpoint.KeyPrefix+"default:"+key).Result()
				if err != nil || !strings.Contains(v, "offset") {
					t.Errorf("the old source's key %s: %q, %v", key, v, err)
				}
			}
			sc.Close()
			counts.check(t, "the old source", src, rounds)
			counts.check(t, "the target", dst, rounds)
			rd.stop(t)

			// Clients are back on the old source; the forward sync starts again
			// from its checkpoint, past the reverse link's writes.
			more := &targetWrites{}
			ctx, cancel = context.WithCancel(context.Background())
			loadDone = more.run(ctx, t, src)
			d = startDaemon(t, nil, args...)
			time.Sleep(500 * time.Millisecond)
			cancel()
			if err := <-loadDone; err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(d.out.String(), "resuming after a rollback") {
				t.Fatalf("the forward sync did not resume past the rollback:\n%s", d.out.String())
			}
			out, code = run(t, time.Minute, "cutover", "--status-addr", d.addr, "--pause", "3s", "--timeout", "30s")
			if code != 0 {
				t.Fatalf("cutover after the rollback exited %d:\n%s\nsync log:\n%s", code, out, d.out.String())
			}
			mustEqual(t, "after the forward sync started again", src, dst)
			counts.check(t, "the target after the forward restart", dst, rounds+more.rounds.Load())

			if n := syncFull(t, src); n != 1 {
				t.Fatalf("the old source served %d full syncs, want 1 (the first)", n)
			}
			want := dstFullBefore
			if tc.path == "created-backlog" {
				want++ // the snapshot discarded to make the backlog, before the pause
			}
			if n := syncFull(t, dst); n != want {
				t.Fatalf("the target served %d full syncs, want %d", n, want)
			}
			if n, _ := strconv.Atoi(dst.InfoField(t, "stats", "sync_partial_ok")); n < 2 {
				t.Fatalf("the target served %d partial syncs: the reverse link did not continue after the restart", n)
			}
			d.stop(t)
		})
	}
}

// targetWrites writes non-idempotent commands (INCR, LPUSH, APPEND,
// HINCRBY, and INCR in db 1) in rounds: a command applied twice or lost
// shows in the counts.
type targetWrites struct{ rounds atomic.Int64 }

func (w *targetWrites) run(ctx context.Context, t *testing.T, s *redistest.Server) chan error {
	c0, c1 := s.ClientDB(0), s.ClientDB(1)
	done := make(chan error, 1)
	go func() {
		defer c0.Close()
		defer c1.Close()
		for ctx.Err() == nil {
			_, err := c0.TxPipelined(context.Background(), func(p redis.Pipeliner) error {
				p.Incr(ctx, "rb:ctr")
				p.LPush(ctx, "rb:list", "x")
				p.Append(ctx, "rb:app", "ab")
				p.HIncrBy(ctx, "rb:hash", "f", 3)
				return nil
			})
			if err == nil {
				err = c1.Incr(context.Background(), "rb:ctr1").Err()
			}
			if err != nil {
				done <- err
				return
			}
			w.rounds.Add(1)
			time.Sleep(2 * time.Millisecond)
		}
		done <- nil
	}()
	return done
}

// check: the counts on s say each of rounds rounds was applied once.
func (w *targetWrites) check(t *testing.T, what string, s *redistest.Server, rounds int64) {
	t.Helper()
	c0, c1 := s.ClientDB(0), s.ClientDB(1)
	defer c0.Close()
	defer c1.Close()
	ctx := context.Background()
	got := map[string]int64{}
	got["INCR"], _ = c0.Get(ctx, "rb:ctr").Int64()
	got["LPUSH"], _ = c0.LLen(ctx, "rb:list").Result()
	n, _ := c0.StrLen(ctx, "rb:app").Result()
	got["APPEND"] = n / 2
	h, _ := c0.HGet(ctx, "rb:hash", "f").Int64()
	got["HINCRBY"] = h / 3
	got["INCR db 1"], _ = c1.Get(ctx, "rb:ctr1").Int64()
	for cmd, n := range got {
		if n != rounds {
			t.Errorf("%s: %s counts %d, want %d (each write once)", what, cmd, n, rounds)
		}
	}
}

func mustEqual(t *testing.T, when string, a, b *redistest.Server) {
	t.Helper()
	ca, cb := a.Client(), b.Client()
	defer ca.Close()
	defer cb.Close()
	rep, err := verify.Compare(context.Background(), ca, cb, verify.Options{
		IgnoreKeys: func(_ int, key string) bool { return strings.HasPrefix(key, checkpoint.KeyPrefix) }})
	if err != nil {
		t.Fatalf("%s: verify: %v", when, err)
	}
	if !rep.Equal() {
		t.Fatalf("%s: the servers differ in %d keys: %v", when, rep.DiffCount, rep.Diffs)
	}
}

func syncFull(t *testing.T, s *redistest.Server) int {
	t.Helper()
	n, err := strconv.Atoi(s.InfoField(t, "stats", "sync_full"))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// reverseStreaming: the daemon's reverse link streams.
func reverseStreaming(d *daemon) bool {
	r, ok := d.report()
	return ok && r.Rollback != nil && r.Rollback.Reverse != nil && r.Rollback.Reverse.Phase == status.PhaseStreaming
}

func (d *daemon) report() (status.Report, bool) {
	code, body := d.get("/status")
	var r status.Report
	if code != 200 || json.Unmarshal([]byte(body), &r) != nil {
		return r, false
	}
	return r, true
}

// waitReverseApplied waits until the reverse link has applied n commands.
func waitReverseApplied(t *testing.T, d *daemon, n int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if r, ok := d.report(); ok && r.Rollback != nil && r.Rollback.Reverse != nil && r.Rollback.Reverse.Commands >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the reverse link applied no commands in 30s:\n%s", d.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitedDaemon is a daemon whose exit a goroutine waits for.
type waitedDaemon struct {
	*daemon
	exited chan struct{}
}

// stop sends SIGTERM and expects a clean exit.
func (d waitedDaemon) stop(t *testing.T) {
	t.Helper()
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
		if !d.cmd.ProcessState.Success() {
			t.Fatalf("sync after SIGTERM: %v\n%s", d.cmd.ProcessState, d.out.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("sync still running 20s after SIGTERM:\n%s", d.out.String())
	}
}

// startDaemonUntil is startDaemon waiting for ready instead of /readyz.
func startDaemonUntil(t *testing.T, ready func(*daemon) bool, args ...string) waitedDaemon {
	t.Helper()
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	d := &daemon{out: &lockedBuffer{}, addr: "127.0.0.1:" + strconv.Itoa(port)}
	d.cmd = exec.Command(binary, append([]string{"sync", "--status-addr", d.addr}, args...)...)
	d.cmd.Env = append(os.Environ(), "REDFERRY_LOG_FORMAT=json")
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = d.cmd.Wait(); close(exited) }()
	w := waitedDaemon{d, exited}
	t.Cleanup(func() { _ = d.cmd.Process.Kill(); <-exited })
	deadline := time.Now().Add(60 * time.Second)
	for !ready(d) {
		select {
		case <-exited:
			t.Fatalf("sync exited before it was ready:\n%s", d.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("sync never became ready:\n%s", d.out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return w
}

// TestRollbackReverseLinkDowngrade: the reverse link into an older server
// translates as a forward sync does and stops with the same clear error on
// data the old source cannot hold (a hash field TTL into Redis 7.0); with
// on-unholdable-field-ttl = convert, the restarted daemon continues from its
// checkpoint, and the rollback brings every write back once.
func TestRollbackReverseLinkDowngrade(t *testing.T) {
	fast := redistest.Options{Args: []string{"repl-diskless-sync-delay", "0"}}
	src := redistest.Start(t, redistest.Redis70, fast)
	dst := redistest.Start(t, redistest.Redis80, fast)
	fill(t, src, 50)
	args := []string{"--source", src.URL(), "--target", dst.URL(), "--state-dir", t.TempDir()}
	d := startDaemonUntil(t, func(d *daemon) bool { code, _ := d.get("/readyz"); return code == 200 }, args...)
	out, code := run(t, time.Minute, "cutover", "--status-addr", d.addr, "--pause", "3s", "--timeout", "30s", "--keep-rollback")
	if code != 0 {
		t.Fatalf("cutover --keep-rollback exited %d:\n%s\nsync log:\n%s", code, out, d.out.String())
	}
	c := dst.Client()
	defer c.Close()
	ctx := context.Background()
	for _, cmd := range [][]any{{"INCR", "dg:ctr"}, {"HSET", "dg:h", "f", "v", "g", "w"}, {"HEXPIRE", "dg:h", "1000", "FIELDS", "1", "f"}, {"INCR", "dg:ctr"}} {
		if err := c.Do(ctx, cmd...).Err(); err != nil {
			t.Fatalf("%v on the target: %v", cmd, err)
		}
	}
	select {
	case <-d.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("the reverse link did not stop at the hash field TTL:\n%s", d.out.String())
	}
	log := d.out.String()
	if d.cmd.ProcessState.Success() || !strings.Contains(log, "hash field TTL") || !strings.Contains(log, "on-unholdable-field-ttl") ||
		!strings.Contains(log, "reverse link") {
		t.Fatalf("the daemon did not stop with the field-TTL error of the reverse link (%v):\n%s", d.cmd.ProcessState, log)
	}

	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, `"level":"error"`) {
			t.Logf("the reverse link stopped: %s", line)
		}
	}
	rd := startDaemonUntil(t, reverseStreaming, append(args, "--on-unholdable-field-ttl", "convert")...)
	waitReverseApplied(t, rd.daemon, 1)

	// A forward sync that does not know of the reverse link (another state
	// dir) refuses to copy the reverse link's writes back to the target.
	out, code = run(t, time.Minute, "sync", "--once", "--source", src.URL(), "--target", dst.URL(), "--state-dir", t.TempDir())
	if code == 0 || !strings.Contains(out, "rollback copy of the target") {
		t.Fatalf("a forward sync during the reverse link exited %d:\n%s", code, out)
	}
	out, code = run(t, time.Minute, "rollback", "--status-addr", rd.addr, "--pause", "3s", "--timeout", "30s")
	if code != 0 {
		t.Fatalf("rollback exited %d:\n%s\nsync log:\n%s", code, out, rd.out.String())
	}
	s := src.Client()
	defer s.Close()
	if n, _ := s.Get(ctx, "dg:ctr").Int(); n != 2 {
		t.Errorf("the old source counts %d INCRs, want 2", n)
	}
	if h, _ := s.HGetAll(ctx, "dg:h").Result(); h["f"] != "v" || h["g"] != "w" {
		t.Errorf("the old source's hash is %v, want f=v g=w (the field TTL converted away)", h)
	}
	rd.stop(t)
}
