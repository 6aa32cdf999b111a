package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redferry/redferry/internal/redistest"
)

// The permissions the README lists for the source and the target users.
var (
	sourceACL = []any{"+psync", "+replconf", "+ping", "+info"}
	targetACL = []any{"~*", "+@write", "+@read", "+multi", "+exec", "+select", "+info", "+ping"}
)

func setUser(t *testing.T, s *redistest.Server, name string, rules []any) {
	t.Helper()
	c := s.Client()
	defer c.Close()
	args := append([]any{"ACL", "SETUSER", name, "reset", "on", ">pw-" + name}, rules...)
	if err := c.Do(context.Background(), args...).Err(); err != nil {
		t.Fatalf("ACL SETUSER %s: %v", name, err)
	}
}

func userURL(s *redistest.Server, name string) string {
	return "redis://" + name + ":pw-" + name + "@" + s.Addr
}

func without(rules []any, drop string) []any {
	var out []any
	for _, r := range rules {
		if r != drop {
			out = append(out, r)
		}
	}
	return out
}

// TestSyncWithMinimalACLUsers: with exactly the documented permissions a sync
// works; with one of them missing it fails with an error naming it.
func TestSyncWithMinimalACLUsers(t *testing.T) {
	for _, server := range []string{redistest.Redis60, redistest.Redis70, redistest.Valkey91} {
		t.Run(server, func(t *testing.T) {
			src := redistest.Start(t, server, redistest.Options{})
			dst := redistest.Start(t, server, redistest.Options{})
			fill(t, src, 200)
			setUser(t, src, "repl", sourceACL)
			setUser(t, dst, "writer", targetACL)
			out, code := run(t, 2*time.Minute, "sync", "--source", userURL(src, "repl"), "--target", userURL(dst, "writer"),
				"--state-dir", t.TempDir(), "--once")
			if code != 0 {
				t.Fatalf("sync with the documented permissions exited %d:\n%s", code, out)
			}
			if out, code := run(t, time.Minute, "verify", "--source", src.URL(), "--target", dst.URL()); code != 0 {
				t.Fatalf("verify after the ACL sync exited %d:\n%s", code, out)
			}

			for _, tc := range []struct {
				side, drop, want string
			}{
				{"source", "+psync", "psync"},
				{"source", "+replconf", "replconf"},
				{"source", "+info", "info"},
				{"target", "+multi", "multi"},
				{"target", "+select", "select"},
			} {
				t.Run(tc.side+" without "+tc.drop, func(t *testing.T) {
					admin := dst.Client()
					defer admin.Close()
					if err := admin.FlushAll(context.Background()).Err(); err != nil {
						t.Fatal(err)
					}
					setUser(t, src, "repl", sourceACL)
					setUser(t, dst, "writer", targetACL)
					if tc.side == "source" {
						setUser(t, src, "repl", without(sourceACL, tc.drop))
					} else {
						setUser(t, dst, "writer", without(targetACL, tc.drop))
					}
					out, code := run(t, time.Minute, "sync", "--source", userURL(src, "repl"), "--target", userURL(dst, "writer"),
						"--state-dir", t.TempDir(), "--once")
					if code == 0 {
						t.Fatalf("sync without %s on the %s exited 0:\n%s", tc.drop, tc.side, out)
					}
					if !strings.Contains(strings.ToLower(out), tc.want) || !strings.Contains(strings.ToLower(out), "perm") {
						t.Fatalf("the error does not name the missing permission %q:\n%s", tc.want, out)
					}
					if testing.Verbose() {
						t.Log(lastLine(out))
					}
				})
			}
		})
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
