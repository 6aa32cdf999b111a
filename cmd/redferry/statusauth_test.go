package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redferry/redferry/internal/redistest"
)

// TestSyncRefusesAnOpenStatusAddrWithoutToken: a status address other
// machines can reach, without a token, stops sync before it touches
// anything, saying what to set.
func TestSyncRefusesAnOpenStatusAddrWithoutToken(t *testing.T) {
	for _, tc := range []struct {
		addr string
		env  []string
		want []string
	}{
		{addr: "0.0.0.0:9470", want: []string{"listens beyond loopback", "status-token-file", "REDFERRY_STATUS_TOKEN", "127.0.0.1:9470"}},
		{addr: "[::]:9470", want: []string{"listens beyond loopback", "status-token-file"}},
		{addr: ":9470", want: []string{"listens beyond loopback"}},
		{addr: "10.20.30.40:9470", want: []string{"listens beyond loopback"}},
		{addr: "redferry.internal:9470", want: []string{"listens beyond loopback"}},
		{addr: "0.0.0.0:9470", env: []string{"REDFERRY_STATUS_TOKEN=abc"}, want: []string{"status-token", "too short"}},
		{addr: "0.0.0.0:9470", env: []string{"REDFERRY_STATUS_TOKEN_FILE=/nonexistent/status.token"}, want: []string{"status-token-file", "no such file"}},
	} {
		t.Run(tc.addr+strings.Join(tc.env, ","), func(t *testing.T) {
			state := filepath.Join(t.TempDir(), "state")
			out, code := runEnv(t, tc.env, "sync", "--source", "redis://127.0.0.1:1", "--target", "redis://127.0.0.1:2",
				"--state-dir", state, "--status-addr", tc.addr)
			if code == 0 {
				t.Fatalf("sync with status-addr %s and no usable token exited 0:\n%s", tc.addr, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("the error does not say %q:\n%s", w, out)
				}
			}
			if _, err := os.Stat(state); !os.IsNotExist(err) {
				t.Errorf("sync created its state dir before refusing (stat: %v)", err)
			}
		})
	}
}

// TestCutoverNeedsTheStatusToken: a sync with a status token pauses the
// source for `redferry cutover` only when it sends the token (flag, file in
// --config or variable); without it or with a wrong one, the source's
// writes go on. Reading the status needs no token; the token is never logged.
func TestCutoverNeedsTheStatusToken(t *testing.T) {
	const token = "b6f1c2d9e0a4f7c3b8e5d1a2c9f0e7b4"
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	right := write("right.token", token+"\n")
	wrong := write("wrong.token", "0000000000000000000000000000000\n")
	conf := write("redferry.toml", "status-token-file = \""+right+"\"\n")

	src := redistest.Start(t, redistest.Redis70, redistest.Options{})
	dst := redistest.Start(t, redistest.Redis70, redistest.Options{})
	fill(t, src, 100)
	d := startDaemon(t, []string{"REDFERRY_STATUS_TOKEN_FILE=" + right}, "--source", src.URL(), "--target", dst.URL(), "--state-dir", t.TempDir())
	w := src.Client()
	defer w.Close()

	if out, code := run(t, time.Minute, "status", "--status-addr", d.addr); code != 0 || !strings.Contains(out, "streaming") {
		t.Fatalf("redferry status without the token exited %d:\n%s", code, out)
	}
	for _, tc := range []struct {
		name  string
		env   []string
		args  []string
		works bool
		want  string // in the output
	}{
		{name: "no token", want: "needs the status token"},
		{name: "wrong token file", args: []string{"--status-token-file", wrong}, want: "not this sync's status token"},
		{name: "wrong token in the variable", env: []string{"REDFERRY_STATUS_TOKEN=" + strings.Repeat("x", 32)}, want: "not this sync's status token"},
		{name: "token file", args: []string{"--status-token-file", right}, works: true, want: "paused (WRITE)"},
		{name: "token in the variable", env: []string{"REDFERRY_STATUS_TOKEN=" + token}, works: true, want: "paused (WRITE)"},
		{name: "token file named in --config", args: []string{"--config", conf}, works: true, want: "paused (WRITE)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"cutover", "--status-addr", d.addr, "--pause", "2s", "--timeout", "30s"}, tc.args...)
			out, code := runEnv(t, tc.env, args...)
			if (code == 0) != tc.works || !strings.Contains(out, tc.want) {
				t.Fatalf("cutover exited %d, want success %v and %q in:\n%s", code, tc.works, tc.want, out)
			}
			// A write waits for the end of a pause, and only then.
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := w.Incr(ctx, "writes").Err(); err != nil {
				t.Fatal(err)
			}
			if paused := time.Since(start) > time.Second; paused != tc.works {
				t.Fatalf("cutover exited %d and a write on the source then waited %s", code, time.Since(start))
			}
		})
	}

	// PUT /loglevel: refused without the token, done with it.
	for _, tc := range []struct {
		auth string
		want int
	}{{"", 401}, {"Bearer " + token, 200}} {
		req, _ := http.NewRequest(http.MethodPut, "http://"+d.addr+"/loglevel", strings.NewReader(`{"level":"debug"}`))
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Fatalf("PUT /loglevel with %q = %d, want %d", tc.auth, resp.StatusCode, tc.want)
		}
	}
	d.stop(t)
	if log := d.out.String(); strings.Contains(log, token) || !strings.Contains(log, "refused a request that changes state") {
		t.Fatalf("the sync's log shows the token or not the refusals:\n%s", log)
	}
}
