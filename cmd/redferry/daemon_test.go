package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redferry/redferry/internal/redistest"
)

// daemon is a `redferry sync` running in the background with its status server.
type daemon struct {
	cmd  *exec.Cmd
	out  *lockedBuffer
	addr string // status address
}

// startDaemon runs `redferry sync args...` with a status server on a free
// port and waits until /readyz says ready (streaming, lag below the bound).
func startDaemon(t *testing.T, env []string, args ...string) *daemon {
	t.Helper()
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	d := &daemon{out: &lockedBuffer{}, addr: "127.0.0.1:" + strconv.Itoa(port)}
	d.cmd = exec.Command(binary, append([]string{"sync", "--status-addr", d.addr}, args...)...)
	d.cmd.Env = append(append(os.Environ(), "REDFERRY_LOG_FORMAT=json"), env...)
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.cmd.Process.Kill(); _ = d.cmd.Wait() })
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, _ := d.get("/readyz")
		if code == 200 {
			return d
		}
		if time.Now().After(deadline) || d.cmd.ProcessState != nil {
			t.Fatalf("sync never became ready:\n%s", d.out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (d *daemon) get(path string) (int, string) {
	resp, err := http.Get("http://" + d.addr + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// stop sends SIGTERM and expects a clean exit.
func (d *daemon) stop(t *testing.T) {
	t.Helper()
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- d.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("sync after SIGTERM: %v\n%s", err, d.out.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("sync still running 20s after SIGTERM:\n%s", d.out.String())
	}
}

// writeLoad runs the non-idempotent workload against s until ctx ends.
func writeLoad(ctx context.Context, t *testing.T, s *redistest.Server) chan error {
	c := s.Client()
	done := make(chan error, 1)
	go func() {
		defer c.Close()
		wl := &redistest.Workload{Seed: 11, Version: s.Version}
		for ctx.Err() == nil {
			if err := wl.Run(ctx, c, 100); err != nil && ctx.Err() == nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	return done
}

// runEnv is run with more environment variables, within a minute.
func runEnv(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	return runWith(t, time.Minute, env, args...)
}
