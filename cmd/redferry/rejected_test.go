package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/checkpoint"
)

// A command the target rejects inside EXEC (the rest of its batch applied)
// is never skipped without the operator's word: the run exits 3 and records
// it; a restart refuses (exit 3) and writes nothing; --skip-rejected needs
// the recorded offset; --retry-rejected applies it exactly once.
func TestSyncStopsAtARejectedCommandUntilTheOperatorAnswers(t *testing.T) {
	tests := []struct {
		name       string
		checkpoint string // "target" or "file"
		retry      bool   // answer with --retry-rejected after fixing the key, else --skip-rejected
	}{
		{"skip, checkpoint in the target", "target", false},
		{"retry, checkpoint in the target", "target", true},
		{"retry, checkpoint in a file", "file", true},
		{"skip, checkpoint in a file", "file", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			src := redistest.Start(t, redistest.Redis70, redistest.Options{})
			dst := redistest.Start(t, redistest.Redis70, redistest.Options{})
			sc, dc := src.Client(), dst.Client()
			defer sc.Close()
			defer dc.Close()
			state := t.TempDir()
			args := []string{"sync", "--source", src.URL(), "--target", dst.URL(), "--state-dir", state, "--checkpoint", tt.checkpoint}
			cp := checkpointReader(t, dc, state, tt.checkpoint)

			// A string on the source, made a list on the target by hand:
			// the source's INCR is then WRONGTYPE inside EXEC.
			must(t, sc.Set(ctx, "counter", "10", 0).Err())
			out, done := startBackground(t, args...)
			waitValue(t, dc, "counter", "10", out)
			must(t, dc.Del(ctx, "counter").Err())
			must(t, dc.RPush(ctx, "counter", "by-hand").Err())
			must(t, sc.Incr(ctx, "counter").Err())
			must(t, sc.Set(ctx, "same-batch-or-later", "1", 0).Err())

			code := waitExit(t, done, out)
			if code != 3 {
				t.Fatalf("exit status %d after a rejected command, want 3:\n%s", code, out)
			}
			st := cp()
			if len(st.Rejected) != 1 {
				t.Fatalf("the checkpoint records %d rejected commands, want 1: %+v", len(st.Rejected), st)
			}
			rej := st.Rejected[0]
			offset := strconv.FormatInt(rej.Offset, 10)
			if rej.Command != "INCR" || rej.Key != "counter" || !strings.HasPrefix(rej.Answer, "WRONGTYPE") {
				t.Fatalf("recorded %+v, want INCR counter WRONGTYPE", rej)
			}
			for _, w := range []string{"INCR", `\"counter\"`, offset, "WRONGTYPE", "--retry-rejected", "--skip-rejected " + offset} {
				if !strings.Contains(out.String(), w) {
					t.Errorf("the stop message does not say %s:\n%s", w, out)
				}
			}

			// More writes on the source; a restart must not apply them.
			must(t, sc.Set(ctx, "later", "1", 0).Err())
			if tt.retry {
				must(t, sc.Incr(ctx, "counter").Err()) // 12 on the source
			}
			before := targetDump(t, dc)
			restart, code := run(t, time.Minute, append(args, "--once")...)
			if code != 3 {
				t.Fatalf("restart exited %d, want 3 (refused):\n%s", code, restart)
			}
			for _, w := range []string{"INCR", "counter", offset, "WRONGTYPE", "--skip-rejected " + offset} {
				if !strings.Contains(restart, w) {
					t.Errorf("the refusal does not say %s:\n%s", w, restart)
				}
			}
			if after := targetDump(t, dc); after != before {
				t.Fatalf("the refused restart wrote to the target:\nbefore %s\nafter  %s", before, after)
			}

			wrong, code := run(t, time.Minute, append(args, "--once", "--skip-rejected", strconv.FormatInt(rej.Offset+1, 10))...)
			if code != 3 || !strings.Contains(wrong, "matches none") || !strings.Contains(wrong, offset) {
				t.Fatalf("--skip-rejected with a wrong offset exited %d, want 3 naming the recorded offset:\n%s", code, wrong)
			}
			if after := targetDump(t, dc); after != before {
				t.Fatalf("--skip-rejected with a wrong offset wrote to the target:\nbefore %s\nafter  %s", before, after)
			}

			var answer []string
			if tt.retry {
				must(t, dc.Set(ctx, "counter", "10", 0).Err()) // the operator fixes the key
				answer = []string{"--retry-rejected"}
			} else {
				answer = []string{"--skip-rejected", offset}
			}
			final, code := run(t, time.Minute, append(append(args, "--once"), answer...)...)
			if code != 0 {
				t.Fatalf("sync %s exited %d:\n%s", answer, code, final)
			}
			if tt.retry {
				// 10, INCR retried once → 11, then the later INCR → 12, as on the source.
				if v := dc.Get(ctx, "counter").Val(); v != "12" {
					t.Fatalf("counter on the target is %q after --retry-rejected, want 12 (the INCR applied exactly once):\n%s", v, final)
				}
				if !strings.Contains(final, "retry-rejected") {
					t.Errorf("the retry is not logged:\n%s", final)
				}
			} else {
				if typ := dc.Type(ctx, "counter").Val(); typ != "list" {
					t.Fatalf("counter on the target is a %s after --skip-rejected, want the list left alone", typ)
				}
				if !strings.Contains(final, "skipping a command the target rejected") {
					t.Errorf("the skip is not logged:\n%s", final)
				}
			}
			for _, k := range []string{"same-batch-or-later", "later"} {
				if dc.Get(ctx, k).Val() != "1" {
					t.Errorf("%s did not arrive after the answer:\n%s", k, final)
				}
			}
			if st := cp(); st.HasRejected() {
				t.Fatalf("the checkpoint still records rejected commands after the answer: %+v", st.Rejected)
			}
			// Answered: the next start goes on by itself.
			if out, code := run(t, time.Minute, append(args, "--once")...); code != 0 {
				t.Fatalf("the start after the answer exited %d:\n%s", code, out)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// checkpointReader reads the sync's checkpoint from the target or the file.
func checkpointReader(t *testing.T, dc *redis.Client, state, where string) func() checkpoint.State {
	return func() checkpoint.State {
		t.Helper()
		if where == "file" {
			st, ok, err := checkpoint.NewFileStore(state).Load(context.Background())
			if err != nil || !ok {
				t.Fatalf("checkpoint file in %s: %v (present: %v)", state, err, ok)
			}
			return st
		}
		v, err := dc.Get(context.Background(), checkpoint.KeyPrefix+"default").Bytes()
		if err != nil {
			t.Fatalf("checkpoint key: %v", err)
		}
		st, err := checkpoint.Unmarshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
}

// targetDump is every key of db 0 of the target with its type and, for
// strings (the checkpoint key too), its value.
func targetDump(t *testing.T, c *redis.Client) string {
	t.Helper()
	ctx := context.Background()
	keys, err := c.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	for _, k := range keys {
		typ := c.Type(ctx, k).Val()
		sb.WriteString(k + "=" + typ)
		if typ == "string" {
			sb.WriteString(":" + c.Get(ctx, k).Val())
		}
		sb.WriteString(" ")
	}
	return sb.String()
}

// startBackground runs redferry with args until it is streaming.
func startBackground(t *testing.T, args ...string) (*lockedBuffer, chan int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "REDFERRY_LOG_FORMAT=json", "REDFERRY_STATUS_ADDR=")
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	must(t, cmd.Start())
	done := make(chan int, 1)
	go func() {
		err := cmd.Wait()
		var ee *exec.ExitError
		switch {
		case err == nil:
			done <- 0
		case errors.As(err, &ee):
			done <- ee.ExitCode()
		default:
			done <- -1
		}
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), "applying the replication stream") {
		if time.Now().After(deadline) {
			t.Fatalf("never reached streaming:\n%s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return out, done
}

func waitExit(t *testing.T, done chan int, out *lockedBuffer) int {
	t.Helper()
	select {
	case code := <-done:
		return code
	case <-time.After(30 * time.Second):
		t.Fatalf("still running 30s after the target rejected a command:\n%s", out)
		return 0
	}
}

func waitValue(t *testing.T, c *redis.Client, key, want string, out *lockedBuffer) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for c.Get(context.Background(), key).Val() != want {
		if time.Now().After(deadline) {
			t.Fatalf("%s never became %q on the target:\n%s", key, want, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
