package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redferry/redferry/internal/redistest"
)

// redferryBin is the binary under test: $REDFERRY_BIN, else built into a
// temp dir by buildRedferry.
var redferryBin string

func buildRedferry(dir string) (string, error) {
	if p := os.Getenv("REDFERRY_BIN"); p != "" {
		return p, nil
	}
	bin := filepath.Join(dir, "redferry")
	cmd := exec.Command("go", "build", "-o", bin, "../cmd/redferry")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("bench: go build ./cmd/redferry: %v\n%s", err, out)
	}
	return bin, nil
}

// helpFlags is `redferry sync --help`, to detect optional settings.
func helpFlags() string {
	out, _ := exec.Command(redferryBin, "sync", "--help").CombinedOutput()
	return string(out)
}

// rfProc is one running `redferry sync`.
type rfProc struct {
	cmd        *exec.Cmd
	statusAddr string
	start      time.Time
	out        *bytes.Buffer
	waited     chan struct{}
	err        error
	took       time.Duration
	cpu        time.Duration // user + system
	rssMB      float64
}

func startRedferry(t *testing.T, src, tgt *redistest.Server, stateDir string, once bool, extra ...string) *rfProc {
	t.Helper()
	return startRedferryURL(t, src.URL(), tgt.URL(), stateDir, once, extra...)
}

// startRedferryURL starts `redferry sync` between two URLs: a cluster on
// either side is named by one of its nodes.
func startRedferryURL(t *testing.T, srcURL, tgtURL, stateDir string, once bool, extra ...string) *rfProc {
	t.Helper()
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	p := &rfProc{statusAddr: "127.0.0.1:" + strconv.Itoa(port), out: &bytes.Buffer{}, waited: make(chan struct{})}
	args := []string{"sync", "--source", srcURL, "--target", tgtURL, "--state-dir", stateDir,
		"--status-addr", p.statusAddr, "--log-format", "json", "--log-level", envStr("BENCH_LOG", "warn"), "--progress", "never"}
	if once {
		args = append(args, "--once")
	}
	args = append(args, extra...)
	args = append(args, strings.Fields(os.Getenv("BENCH_FLAGS"))...)
	p.cmd = exec.Command(redferryBin, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.start = time.Now()
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("bench: start redferry: %v", err)
	}
	go func() {
		p.err = p.cmd.Wait()
		p.took = time.Since(p.start)
		p.cpu = p.cmd.ProcessState.UserTime() + p.cmd.ProcessState.SystemTime()
		if ru, ok := p.cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			p.rssMB = float64(ru.Maxrss) / 1024 // Linux: KiB; the peak RSS, as VmHWM
		}
		close(p.waited)
	}()
	t.Cleanup(func() { p.stop(10 * time.Second) })
	return p
}

// wait waits for the process to exit by itself.
func (p *rfProc) wait(timeout time.Duration) error {
	select {
	case <-p.waited:
	case <-time.After(timeout):
		p.stop(10 * time.Second)
		return fmt.Errorf("bench: redferry still running after %s; output:\n%s", timeout, tail(p.out.String()))
	}
	if p.err != nil {
		return fmt.Errorf("bench: redferry: %v; output:\n%s", p.err, tail(p.out.String()))
	}
	return nil
}

// stop sends SIGTERM (a clean stop) and waits.
func (p *rfProc) stop(timeout time.Duration) {
	select {
	case <-p.waited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.waited:
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.waited
	}
}

type statusReport struct {
	Phase           string  `json:"phase"`
	OffsetReceived  int64   `json:"offset_received"`
	OffsetApplied   int64   `json:"offset_applied"`
	LagBytes        int64   `json:"lag_bytes"`
	LagSeconds      float64 `json:"lag_seconds"`
	CommandsApplied int64   `json:"commands_applied"`
}

var httpc = &http.Client{Timeout: 2 * time.Second}

func (p *rfProc) status() (statusReport, error) {
	var r statusReport
	resp, err := httpc.Get("http://" + p.statusAddr + "/status")
	if err != nil {
		return r, err
	}
	defer resp.Body.Close()
	return r, json.NewDecoder(resp.Body).Decode(&r)
}

// waitPhase waits until /status reports phase with no lag.
func (p *rfProc) waitCaughtUp(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		r, err := p.status()
		if err == nil && r.Phase == "streaming" && r.LagBytes == 0 {
			return nil
		}
		select {
		case <-p.waited:
			return fmt.Errorf("bench: redferry exited: %v; output:\n%s", p.err, tail(p.out.String()))
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Errorf("bench: redferry not caught up after %s", timeout)
}

func tail(s string) string {
	if len(s) > 4000 {
		return "…" + s[len(s)-4000:]
	}
	return s
}

// nativeSync makes a fresh server a replica of src and returns how long the
// full sync took (REPLICAOF until the link is up and the load is over).
func nativeSync(t *testing.T, src *redistest.Server, name string) (time.Duration, *redistest.Server) {
	t.Helper()
	tgt := redistest.Start(t, name, redistest.Options{})
	c := tgt.Client()
	defer c.Close()
	ctx := context.Background()
	start := time.Now()
	if err := c.Do(ctx, "REPLICAOF", "127.0.0.1", src.Port).Err(); err != nil {
		t.Fatalf("bench: REPLICAOF: %v", err)
	}
	deadline := start.Add(30 * time.Minute)
	for {
		info, err := c.Info(ctx, "replication").Result()
		if err == nil && strings.Contains(info, "master_link_status:up") && strings.Contains(info, "master_sync_in_progress:0") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bench: native replica not in sync after 30 min: %s", tgt.LogTail())
		}
		time.Sleep(2 * time.Millisecond)
	}
	took := time.Since(start)
	_ = c.Do(ctx, "REPLICAOF", "NO", "ONE").Err()
	return took, tgt
}

// serverCPU is the CPU seconds (user + system) the server used since it
// started, from INFO cpu.
func serverCPU(t *testing.T, s *redistest.Server) float64 {
	t.Helper()
	var sum float64
	for _, f := range []string{"used_cpu_user", "used_cpu_sys"} {
		v, err := strconv.ParseFloat(s.InfoField(t, "cpu", f), 64)
		if err != nil {
			t.Fatalf("bench: INFO cpu %s of %s: %v", f, s.Name, err)
		}
		sum += v
	}
	return sum
}

// dbsize sums the keys of every db (INFO keyspace).
func dbsize(t *testing.T, s *redistest.Server) int64 {
	t.Helper()
	var n int64
	for _, line := range strings.Split(s.InfoField(t, "keyspace", "db0")+"\n"+keyspaceRest(t, s), "\n") {
		if v, ok := strings.CutPrefix(line, "keys="); ok {
			k, _ := strconv.ParseInt(strings.SplitN(v, ",", 2)[0], 10, 64)
			n += k
		}
	}
	return n
}

func keyspaceRest(t *testing.T, s *redistest.Server) string {
	var parts []string
	for db := 1; db < 16; db++ {
		if v := s.InfoField(t, "keyspace", "db"+strconv.Itoa(db)); v != "" {
			parts = append(parts, v)
		}
	}
	return strings.Join(parts, "\n")
}
