package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/checkpoint"
	"github.com/redferry/redferry/pkg/server"
)

// dataState is what a server holds: keys per db and a digest of every key's
// DUMP, so that any change (a key gone, added or rewritten) shows.
type dataState struct {
	keys   map[int]int64
	digest string
}

func stateOf(t *testing.T, s *redistest.Server) dataState {
	t.Helper()
	ctx := context.Background()
	c := s.Client()
	info, err := server.Fetch(ctx, c)
	c.Close()
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	dbs := make([]int, 0, len(info.Keyspace))
	for db := range info.Keyspace {
		dbs = append(dbs, db)
	}
	sort.Ints(dbs)
	for _, db := range dbs {
		c := s.ClientDB(db)
		keys, err := c.Keys(ctx, "*").Result()
		if err != nil {
			c.Close()
			t.Fatal(err)
		}
		sort.Strings(keys)
		for _, k := range keys {
			dump, err := c.Dump(ctx, k).Result()
			if err != nil {
				c.Close()
				t.Fatalf("DUMP %q: %v", k, err)
			}
			fmt.Fprintf(h, "%d %q %d %s\n", db, k, len(dump), dump)
		}
		c.Close()
	}
	return dataState{keys: info.Keyspace, digest: fmt.Sprintf("%x", h.Sum(nil))}
}

// localhostURL is s's URL with the name localhost instead of 127.0.0.1.
func localhostURL(s *redistest.Server) string { return "redis://localhost:" + strconv.Itoa(s.Port) }

func startPrimary(t *testing.T, name string, keys int) *redistest.Server {
	t.Helper()
	s := redistest.Start(t, name, redistest.Options{Args: []string{"repl-diskless-sync-delay", "0"}})
	if keys > 0 {
		fillSame(t, s, keys)
	}
	return s
}

// startWritableReplica starts a replica of primary that accepts writes, so
// that nothing but the interlock keeps a FLUSHALL or a batch off it.
func startWritableReplica(t *testing.T, name string, primary *redistest.Server) *redistest.Server {
	t.Helper()
	r := redistest.Start(t, name, redistest.Options{Args: []string{"replica-read-only", "no", "repl-diskless-sync-delay", "0"}})
	r.ReplicateFrom(t, primary)
	return r
}

// TestSafetyInterlocks: for each mistake a user can make in naming the
// servers, redferry refuses with an error saying what it found, and not
// one key changes anywhere.
func TestSafetyInterlocks(t *testing.T) {
	tests := []struct {
		name string
		// setup starts the servers; it returns redferry's arguments and
		// every server that must be left as it was.
		setup    func(t *testing.T) (args []string, servers []*redistest.Server)
		wantCode int
		want     []string
	}{
		{"sync into the source under another address", func(t *testing.T) ([]string, []*redistest.Server) {
			s := startPrimary(t, redistest.Redis70, 50)
			// What an older redferry would have left: New renamed it (RENAMENX) before it checked anything.
			c := s.Client()
			defer c.Close()
			if err := c.Set(context.Background(), checkpoint.KeyPrefix+s.Addr, "older checkpoint", 0).Err(); err != nil {
				t.Fatal(err)
			}
			return []string{"sync", "--source", s.URL(), "--target", localhostURL(s), "--flush-target", "--once",
				"--state-dir", t.TempDir()}, []*redistest.Server{s}
		}, 1, []string{"is the source", "under another address", "run_id"}},
		{"sync into a replica of the source", func(t *testing.T) ([]string, []*redistest.Server) {
			s := startPrimary(t, redistest.Valkey91, 50)
			r := startWritableReplica(t, redistest.Valkey91, s)
			return []string{"sync", "--source", s.URL(), "--target", r.URL(), "--flush-target", "--once",
				"--state-dir", t.TempDir()}, []*redistest.Server{s, r}
		}, 1, []string{"is a replica of the source redis://"}},
		{"sync into a replica of a replica of the source", func(t *testing.T) ([]string, []*redistest.Server) {
			s := startPrimary(t, redistest.Redis70, 50)
			r := startWritableReplica(t, redistest.Redis70, s)
			rr := startWritableReplica(t, redistest.Redis70, r)
			return []string{"sync", "--source", s.URL(), "--target", rr.URL(), "--flush-target", "--once",
				"--state-dir", t.TempDir()}, []*redistest.Server{s, r, rr}
		}, 1, []string{"which is a replica of the source"}},
		{"sync from a replica of the target", func(t *testing.T) ([]string, []*redistest.Server) {
			d := startPrimary(t, redistest.Redis70, 50)
			s := startWritableReplica(t, redistest.Redis70, d)
			return []string{"sync", "--source", s.URL(), "--target", d.URL(), "--flush-target", "--once",
				"--state-dir", t.TempDir()}, []*redistest.Server{s, d}
		}, 1, []string{"is a replica of the target", "come back"}},
		{"restore --flush-target into a replica", func(t *testing.T) ([]string, []*redistest.Server) {
			other := startPrimary(t, redistest.Redis70, 20)
			file := saveRDB(t, other)
			p := startPrimary(t, redistest.Redis70, 50)
			r := startWritableReplica(t, redistest.Redis70, p)
			return []string{"restore", "--target", r.URL(), "--flush-target", file}, []*redistest.Server{p, r}
		}, 1, []string{"is a replica (role:slave)", "REPLICAOF NO ONE"}},
		{"verify a server with itself", func(t *testing.T) ([]string, []*redistest.Server) {
			s := startPrimary(t, redistest.Redis80, 50)
			return []string{"verify", "--source", localhostURL(s), "--target", s.URL()}, []*redistest.Server{s}
		}, 2, []string{"is the source", "always finds it equal"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args, servers := tc.setup(t)
			before := make([]dataState, len(servers))
			for i, s := range servers {
				before[i] = stateOf(t, s)
				if before[i].keys[0] == 0 {
					t.Fatalf("%s holds no keys: the test would prove nothing", s.Addr)
				}
			}
			out, code := run(t, time.Minute, args...)
			if code != tc.wantCode {
				t.Errorf("redferry %s exited %d, want %d:\n%s", args[0], code, tc.wantCode, out)
			}
			for _, w := range append([]string{"safety interlock"}, tc.want...) {
				if !strings.Contains(out, w) {
					t.Errorf("the output does not say %q:\n%s", w, out)
				}
			}
			for i, s := range servers {
				after := stateOf(t, s)
				if fmt.Sprint(after.keys) != fmt.Sprint(before[i].keys) || after.digest != before[i].digest {
					t.Errorf("%s changed: keys per db %v, now %v (digest %s, now %s)", s.Addr, before[i].keys, after.keys,
						before[i].digest[:12], after.digest[:12])
				}
				c := s.Client()
				n, err := c.Exists(context.Background(), checkpoint.KeyPrefix+"default").Result()
				c.Close()
				if err != nil || n != 0 {
					t.Errorf("%s holds a checkpoint key (%d, %v)", s.Addr, n, err)
				}
			}
			if testing.Verbose() {
				t.Log(lastLine(out))
			}
		})
	}
}
