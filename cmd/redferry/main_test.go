package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redferry/redferry/internal/redistest"
)

// binary is the redferry program built once for these tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "redferry-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "redferry")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		os.Stderr.Write(out)
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// run runs redferry with args and returns its combined output and exit code.
func run(t *testing.T, timeout time.Duration, args ...string) (string, int) {
	t.Helper()
	return runWith(t, timeout, nil, args...)
}

// runWith is run with more environment variables.
func runWith(t *testing.T, timeout time.Duration, env []string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(append(os.Environ(), "REDFERRY_LOG_FORMAT=json", "REDFERRY_STATUS_ADDR="), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("redferry %s: still running after %s:\n%s", strings.Join(args, " "), timeout, out.String())
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), code
}

func fill(t *testing.T, s *redistest.Server, keys int) {
	t.Helper()
	c := s.Client()
	defer c.Close()
	wl := &redistest.Workload{Seed: 7, Version: s.Version}
	if err := wl.Fill(context.Background(), c, keys); err != nil {
		t.Fatal(err)
	}
}

func TestSyncOnceThenVerify(t *testing.T) {
	src := redistest.Start(t, redistest.Redis70, redistest.Options{Password: "s3cret-src"})
	dst := redistest.Start(t, redistest.Valkey91, redistest.Options{Password: "s3cret-dst"})
	fill(t, src, 500)
	state := t.TempDir()
	out, code := run(t, 2*time.Minute, "sync", "--source", src.URL(), "--target", dst.URL(), "--state-dir", state, "--once")
	if code != 0 {
		t.Fatalf("sync --once exited %d:\n%s", code, out)
	}
	for _, pw := range []string{"s3cret-src", "s3cret-dst"} {
		if strings.Contains(out, pw) {
			t.Fatalf("the log shows a password:\n%s", out)
		}
	}
	out, code = run(t, time.Minute, "verify", "--source", src.URL(), "--target", dst.URL())
	if code != 0 || !strings.Contains(out, "equal") {
		t.Fatalf("verify after sync --once exited %d:\n%s", code, out)
	}

	// A change on the source makes verify fail with exit status 1.
	c := src.Client()
	defer c.Close()
	if err := c.Set(context.Background(), "changed-after-sync", "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	out, code = run(t, time.Minute, "verify", "--source", src.URL(), "--target", dst.URL())
	if code != 1 || !strings.Contains(out, "changed-after-sync") {
		t.Fatalf("verify of a differing target exited %d (want 1) without naming the key:\n%s", code, out)
	}
}

func TestSyncRefusesNonEmptyTargetUnlessAsked(t *testing.T) {
	src := redistest.Start(t, redistest.Redis70, redistest.Options{})
	dst := redistest.Start(t, redistest.Redis70, redistest.Options{})
	fill(t, src, 50)
	c := dst.Client()
	defer c.Close()
	if err := c.Set(context.Background(), "precious", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	args := []string{"sync", "--source", src.URL(), "--target", dst.URL(), "--once"}

	out, code := run(t, time.Minute, append(args, "--state-dir", t.TempDir())...)
	if code == 0 || !strings.Contains(out, "--flush-target") || !strings.Contains(out, "--merge") {
		t.Fatalf("sync into a non-empty target exited %d without naming --flush-target and --merge:\n%s", code, out)
	}
	if n, _ := c.Exists(context.Background(), "precious").Result(); n != 1 {
		t.Fatal("the refused sync touched the target")
	}

	out, code = run(t, time.Minute, append(args, "--state-dir", t.TempDir(), "--merge")...)
	if code != 0 {
		t.Fatalf("sync --merge exited %d:\n%s", code, out)
	}
	if n, _ := c.Exists(context.Background(), "precious").Result(); n != 1 {
		t.Fatal("sync --merge removed a key of the target")
	}

	out, code = run(t, time.Minute, append(args, "--state-dir", t.TempDir(), "--flush-target", "--checkpoint", "file")...)
	if code != 0 {
		t.Fatalf("sync --flush-target exited %d:\n%s", code, out)
	}
	if n, _ := c.Exists(context.Background(), "precious").Result(); n != 0 {
		t.Fatal("sync --flush-target kept a key of the target")
	}
}

func TestSyncClearErrors(t *testing.T) {
	src := redistest.Start(t, redistest.Redis70, redistest.Options{Password: "right"})
	dst := redistest.Start(t, redistest.Redis70, redistest.Options{})
	srcc := src.Client()
	defer srcc.Close()
	// A user that may not replicate.
	if err := srcc.Do(context.Background(), "ACL", "SETUSER", "reader", "on", ">pw", "~*", "+@read", "+ping", "+info").Err(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		source string
		want   []string
	}{
		{"wrong password", "redis://:wrong@" + src.Addr, []string{"authentication", "password"}},
		{"user without replication rights", "redis://reader:pw@" + src.Addr, []string{"refuses replication", "PSYNC"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, code := run(t, time.Minute, "sync", "--source", tt.source, "--target", dst.URL(), "--state-dir", t.TempDir(), "--once")
			if code == 0 {
				t.Fatalf("sync exited 0:\n%s", out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("the error does not say %q:\n%s", w, out)
				}
			}
			if strings.Contains(out, "wrong") && tt.name == "wrong password" && strings.Contains(out, ":wrong@") {
				t.Errorf("the output shows the password:\n%s", out)
			}
		})
	}
}

// An unreachable source is retried (it may be restarting), and each retry
// says what is wrong.
func TestSyncRetriesUnreachableSource(t *testing.T) {
	dst := redistest.Start(t, redistest.Redis70, redistest.Options{})
	cmd := exec.Command(binary, "sync", "--source", "redis://127.0.0.1:1", "--target", dst.URL(), "--state-dir", t.TempDir())
	cmd.Env = append(os.Environ(), "REDFERRY_LOG_FORMAT=json", "REDFERRY_STATUS_ADDR=")
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(out.String(), "reconnecting") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("no retries logged for an unreachable source:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(out.String(), "127.0.0.1:1") || !strings.Contains(out.String(), "connection refused") {
		t.Fatalf("the retry log does not say what is wrong:\n%s", out.String())
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("after SIGTERM while retrying: %v\n%s", err, out.String())
	}
}

func TestSyncStopsCleanlyOnSIGTERM(t *testing.T) {
	src := redistest.Start(t, redistest.Redis70, redistest.Options{})
	dst := redistest.Start(t, redistest.Redis70, redistest.Options{})
	fill(t, src, 100)
	cmd := exec.Command(binary, "sync", "--source", src.URL(), "--target", dst.URL(), "--state-dir", t.TempDir())
	cmd.Env = append(os.Environ(), "REDFERRY_LOG_FORMAT=json", "REDFERRY_STATUS_ADDR=")
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), "applying the replication stream") {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("never reached streaming:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("after SIGTERM: %v\n%s", err, out.String())
		}
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("still running 20s after SIGTERM:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "sync stopped cleanly") {
		t.Fatalf("no clean stop in the log:\n%s", out.String())
	}
}

// lockedBuffer collects a child's output while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
