package scan

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/server"
)

// A source whose user may not run CONFIG (as on managed services): --live
// needs notifications and says which setting to change; with them already
// on it works; without --live the copy goes on and ends with a prune. A
// user that may not run DUMP or MEMORY either gets every key read page by
// page, big keys told by their element counts.
func TestScanWithoutConfigRights(t *testing.T) {
	tests := []struct {
		name    string
		notify  string // the source's notify-keyspace-events
		live    bool
		deny    []any // more ACL rules
		wantErr bool
	}{
		{"live, notifications off", "", true, nil, true},
		{"live, notifications on", "KEA", true, nil, false},
		{"one-shot, notifications off", "", false, nil, false},
		{"one-shot, no DUMP nor MEMORY", "KEA", false, []any{"-dump", "-memory"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			src := redistest.Start(t, redistest.Redis70, redistest.Options{Args: []string{"notify-keyspace-events", tc.notify}})
			dst := redistest.Start(t, redistest.Valkey91, redistest.Options{})
			sc := src.Client()
			defer sc.Close()
			rules := append([]any{"ACL", "SETUSER", "scanner", "on", ">pw", "~*", "&*", "+@all", "-config"}, tc.deny...)
			if err := sc.Do(ctx, rules...).Err(); err != nil {
				t.Fatal(err)
			}
			wl := &redistest.Workload{Seed: 5, Version: src.Version}
			if err := wl.Fill(ctx, sc, 300); err != nil {
				t.Fatal(err)
			}
			opt := options(t, src, dst)
			opt.Source = server.ClientOptions{Addr: src.Addr, Username: "scanner", Password: "pw"}
			opt.Live = tc.live
			runCtx, stop := context.WithCancel(ctx)
			defer stop()
			var passDone sync.Once
			opt.Progress = func(st Stats) {
				if st.Phase == PhaseLive {
					passDone.Do(stop) // live: stop once the first pass is complete
				}
			}
			st, err := Run(runCtx, opt)
			if tc.wantErr {
				if !errors.Is(err, ErrNotifications) || !strings.Contains(err.Error(), "notify-keyspace-events") || !strings.Contains(err.Error(), "KEA") {
					t.Fatalf("err = %v, want one saying to set notify-keyspace-events to KEA", err)
				}
				if n := keysOf(t, dst); n != 0 {
					t.Errorf("the target got %d keys before the refusal", n)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("stats %+v", st)
			if tc.deny != nil && st.Big != st.Copied {
				t.Errorf("without DUMP, %d of %d keys were copied page by page", st.Big, st.Copied)
			}
			assertEqual(t, src, dst, 1)
			if got := sc.ConfigGet(ctx, "notify-keyspace-events").Val()["notify-keyspace-events"]; !sameFlags(got, tc.notify) {
				t.Errorf("notify-keyspace-events is %q, was %q", got, tc.notify)
			}
		})
	}
}

func sameFlags(a, b string) bool { return missingClasses(a) == missingClasses(b) }

func keysOf(t *testing.T, s *redistest.Server) int64 {
	t.Helper()
	c := s.Client()
	defer c.Close()
	in, err := server.Fetch(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return in.Keys()
}

// Events lost while the notification link is down (here: the source kills
// it) or dropped because too many keys changed at once (max-dirty) are made
// up for by a new pass, which also deletes on the target what the source
// deleted meanwhile.
func TestScanRescansAfterLostEvents(t *testing.T) {
	tests := []struct {
		name     string
		maxDirty int
		killLink bool
	}{
		{"link killed", 0, true},
		{"dirty set overflow", 20, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			src := redistest.Start(t, redistest.Redis70, redistest.Options{})
			dst := redistest.Start(t, redistest.Valkey91, redistest.Options{})
			sc := src.Client()
			defer sc.Close()
			wl := &redistest.Workload{Seed: 8, Version: src.Version}
			if err := wl.Fill(ctx, sc, 500); err != nil {
				t.Fatal(err)
			}
			opt := options(t, src, dst)
			opt.Live, opt.MaxDirty = true, tc.maxDirty
			passes := make(chan Stats, 16)
			opt.Progress = func(st Stats) {
				if st.Phase == PhaseLive {
					select {
					case passes <- st:
					default:
					}
				}
			}
			runCtx, stop := context.WithCancel(ctx)
			defer stop()
			var (
				st  Stats
				err error
				wg  sync.WaitGroup
			)
			wg.Add(1)
			go func() { defer wg.Done(); st, err = Run(runCtx, opt) }()
			first := waitPass(t, passes)
			if tc.killLink {
				if err := sc.Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub").Err(); err != nil {
					t.Fatal(err)
				}
			}
			// Deletions and writes around the loss.
			if err := sc.Del(ctx, "wl:0:0", "wl:1:1", "wl:2:2").Err(); err != nil {
				t.Fatal(err)
			}
			if err := wl.Run(ctx, sc, 300); err != nil {
				t.Fatal(err)
			}
			for {
				next := waitPass(t, passes)
				if next.Pass > first.Pass {
					break
				}
			}
			assertEqual(t, src, dst, 10)
			stop()
			wg.Wait()
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("stats %+v", st)
			if st.Rescans == 0 {
				t.Errorf("no new pass after the loss: %+v", st)
			}
		})
	}
}

func waitPass(t *testing.T, passes <-chan Stats) Stats {
	t.Helper()
	select {
	case st := <-passes:
		return st
	case <-time.After(30 * time.Second):
		t.Fatal("no pass completed within 30 s")
	}
	return Stats{}
}

// A run that starts after a complete pass (the checkpoint says so) runs a
// new pass with a prune: what changed and what was deleted while redferry
// was not running reaches the target.
func TestScanRestartCatchesUp(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	src := redistest.Start(t, redistest.Redis80, redistest.Options{})
	dst := redistest.Start(t, redistest.Redis60, redistest.Options{})
	sc := src.Client()
	defer sc.Close()
	wl := &redistest.Workload{Seed: 9, Version: "6.0.16", KeepDeletedPending: true, NoGhostPending: true}
	if err := wl.Fill(ctx, sc, 500); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(ctx, options(t, src, dst)); err != nil {
		t.Fatal(err)
	}
	// While redferry is not running: writes, deletes, a FLUSHDB.
	if err := wl.Run(ctx, sc, 300); err != nil {
		t.Fatal(err)
	}
	if err := sc.Del(ctx, "wl:0:0", "wl:1:1", "wl:3:3").Err(); err != nil {
		t.Fatal(err)
	}
	db1 := src.ClientDB(1)
	defer db1.Close()
	if err := db1.FlushDB(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	st, err := Run(ctx, options(t, src, dst))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stats %+v", st)
	if st.Pass != 2 || st.Deleted == 0 {
		t.Errorf("want pass 2 with deletions, got %+v", st)
	}
	assertEqual(t, src, dst, 1)
}
