package main

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redferry/redferry/internal/redistest"
)

// What cannot be written to the target stops the sync with an error that
// names the feature or the command, the key and the offset, before anything
// is lost silently.
func TestSyncStopsOnWhatTheTargetCannotHold(t *testing.T) {
	tests := []struct {
		name           string
		source, target string
		setup          []string // commands on the source
		want           []string // in the output
	}{
		{
			name: "function into Redis 6.0", source: redistest.Redis80, target: redistest.Redis60,
			setup: []string{"FUNCTION", "LOAD", "#!lua name=lib\nredis.register_function('f', function() return 1 end)"},
			want:  []string{"function", "6.0"},
		},
		{
			name: "hash field TTL into Valkey 8.1", source: redistest.Redis80, target: redistest.Valkey81,
			setup: []string{"HSET", "h:ttl", "f", "v"},
			want:  []string{"hash field TTL", "h:ttl"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := redistest.Start(t, tt.source, redistest.Options{})
			dst := redistest.Start(t, tt.target, redistest.Options{})
			c := src.Client()
			defer c.Close()
			ctx := context.Background()
			args := make([]any, len(tt.setup))
			for i, a := range tt.setup {
				args[i] = a
			}
			if err := c.Do(ctx, args...).Err(); err != nil {
				t.Fatal(err)
			}
			if tt.setup[0] == "HSET" {
				if err := c.Do(ctx, "HPEXPIRE", "h:ttl", 600000, "FIELDS", 1, "f").Err(); err != nil {
					t.Fatal(err)
				}
			}
			out, code := run(t, time.Minute, "sync", "--source", src.URL(), "--target", dst.URL(), "--state-dir", t.TempDir(), "--once")
			if code == 0 {
				t.Fatalf("sync exited 0:\n%s", out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("the error does not say %q:\n%s", w, out)
				}
			}
		})
	}
}

// startSync runs `redferry sync` in the background until it is streaming.
func startSync(t *testing.T, args ...string) (*exec.Cmd, *lockedBuffer, chan error) {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"sync", "--state-dir", t.TempDir()}, args...)...)
	cmd.Env = append(os.Environ(), "REDFERRY_LOG_FORMAT=json", "REDFERRY_STATUS_ADDR=")
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), "applying the replication stream") {
		if time.Now().After(deadline) {
			t.Fatalf("never reached streaming:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cmd, out, done
}

// A command the target refuses stops the sync by default, naming the
// command, the key and the offset, with nothing of its batch lost; with
// --on-target-error log the sync logs it and goes on.
func TestSyncTargetRejectsACommand(t *testing.T) {
	ctx := context.Background()
	t.Run("stop", func(t *testing.T) {
		src := redistest.Start(t, redistest.Redis70, redistest.Options{})
		// The target's user may not run SETRANGE: the target refuses the
		// command when it is queued, as an older server refuses a command
		// it lacks.
		dst := redistest.Start(t, redistest.Redis70, redistest.Options{})
		dc := dst.Client()
		defer dc.Close()
		if err := dc.Do(ctx, "ACL", "SETUSER", "default", "-setrange").Err(); err != nil {
			t.Fatal(err)
		}
		_, out, done := startSync(t, "--source", src.URL(), "--target", dst.URL())
		c := src.Client()
		defer c.Close()
		if err := c.Set(ctx, "orig", "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
		if err := c.SetRange(ctx, "orig", 1, "w").Err(); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if err == nil {
				t.Fatalf("sync went on after the target refused a command:\n%s", out.String())
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("sync still running 30s after the target refused a command:\n%s", out.String())
		}
		for _, w := range []string{"SETRANGE", "orig", "offset"} {
			if !strings.Contains(out.String(), w) {
				t.Errorf("the error does not say %q:\n%s", w, out.String())
			}
		}
	})
	t.Run("log", func(t *testing.T) {
		src := redistest.Start(t, redistest.Redis70, redistest.Options{})
		dst := redistest.Start(t, redistest.Redis70, redistest.Options{})
		dc := dst.Client()
		defer dc.Close()
		// The target already holds "clash" as a list; --merge keeps it.
		if err := dc.RPush(ctx, "clash", "a").Err(); err != nil {
			t.Fatal(err)
		}
		_, out, done := startSync(t, "--source", src.URL(), "--target", dst.URL(), "--merge", "--on-target-error", "log")
		c := src.Client()
		defer c.Close()
		if err := c.Append(ctx, "clash", "x").Err(); err != nil { // WRONGTYPE on the target
			t.Fatal(err)
		}
		if err := c.Set(ctx, "after", "1", 0).Err(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for dc.Get(ctx, "after").Val() != "1" {
			select {
			case err := <-done:
				t.Fatalf("sync ended (%v) instead of logging the refused command:\n%s", err, out.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("the write after the refused command never arrived:\n%s", out.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		// The write shows on the target when EXEC runs there; the log line
		// follows once redferry has read EXEC's reply.
		for !strings.Contains(out.String(), "WRONGTYPE") {
			if time.Now().After(deadline) {
				t.Fatalf("the refused command was not logged:\n%s", out.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// A checkpoint in the target is enough to continue, even with a new state
// dir (a lost disk, a new machine) and a checkpoint at offset 0.
func TestSyncContinuesWithANewStateDir(t *testing.T) {
	src := redistest.Start(t, redistest.Redis70, redistest.Options{})
	dst := redistest.Start(t, redistest.Redis70, redistest.Options{})
	fill(t, src, 50)
	args := []string{"sync", "--source", src.URL(), "--target", dst.URL(), "--once"}
	for i := 0; i < 2; i++ {
		out, code := run(t, time.Minute, append(args, "--state-dir", t.TempDir())...)
		if code != 0 {
			t.Fatalf("run %d with a new state dir exited %d:\n%s", i+1, code, out)
		}
	}
	c := src.Client()
	defer c.Close()
	if full := c.Info(context.Background(), "stats").Val(); !strings.Contains(full, "sync_full:1\r") {
		t.Fatalf("the second run took a new full sync:\n%s", full)
	}
}

// A state dir that cannot be written is a clear error naming it, before
// anything is read from the source.
func TestSyncUnwritableStateDir(t *testing.T) {
	src := redistest.Start(t, redistest.Redis70, redistest.Options{})
	dst := redistest.Start(t, redistest.Redis70, redistest.Options{})
	file := t.TempDir() + "/not-a-dir"
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code := run(t, time.Minute, "sync", "--source", src.URL(), "--target", dst.URL(), "--state-dir", file+"/state", "--once")
	if code == 0 || !strings.Contains(out, file) {
		t.Fatalf("sync with an unwritable state dir exited %d without naming it:\n%s", code, out)
	}
	c := src.Client()
	defer c.Close()
	if stats := c.Info(context.Background(), "stats").Val(); !strings.Contains(stats, "sync_full:0\r") {
		t.Fatalf("the source served a full sync to a redferry that could not spool it:\n%s", stats)
	}
}
