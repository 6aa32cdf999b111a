package syncer

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/transform"
)

// A db filter and map on the snapshot and the stream: dbs left out stay
// out, SELECT, MOVE, COPY … DB and SWAPDB are renumbered, a MOVE out of the
// synced dbs deletes the key, and FLUSHALL empties only the synced dbs, as
// flush-target does.
func TestSyncDBFilter(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	src := redistest.Start(t, redistest.Redis70, redistest.Options{Args: sourceArgs(false)})
	dst := redistest.Start(t, redistest.Redis70, redistest.Options{})
	db := func(srv *redistest.Server, n int) func(args ...any) {
		c := srv.ClientDB(n)
		t.Cleanup(func() { c.Close() })
		return func(args ...any) { t.Helper(); do(t, ctx, c, args) }
	}
	for n := 0; n <= 4; n++ {
		db(src, n)("SET", "a"+string(rune('0'+n)), "x")
	}
	db(dst, 5)("SET", "bystander", "x") // the target's own, in a db nothing maps to
	db(dst, 1)("SET", "stale", "x")     // in a db the sync writes to: flush-target empties it

	cfg := testConfig(t, src, dst)
	cfg.FlushTarget = true
	cfg.FilterDBs = []int{0, 2, 3}
	cfg.DBMap = "0:1,3:0"
	r := startSyncer(t, ctx, cfg)
	waitCaughtUp(t, ctx, r.s, src, r.errc)
	expectKeys(t, ctx, dst, "after the snapshot", map[int]map[string]bool{
		1: {"a0": true, "a1": false, "stale": false}, 2: {"a2": true}, 0: {"a3": true, "a0": false}, 4: {"a4": false}, 5: {"bystander": true}})

	db(src, 1)("SET", "b1", "x")
	db(src, 4)("SET", "b4", "x")
	db(src, 0)("SET", "b0", "x")
	db(src, 0)("MOVE", "b0", 4) // leaves the synced dbs
	db(src, 0)("SET", "c0", "x")
	db(src, 0)("MOVE", "c0", 3)
	db(src, 2)("SET", "d2", "x")
	db(src, 2)("COPY", "d2", "d2copy", "DB", 3)
	db(src, 0)("SWAPDB", 2, 3)
	waitCaughtUp(t, ctx, r.s, src, r.errc)
	filteredEqual(t, ctx, cfg, src, dst)
	expectKeys(t, ctx, dst, "after the stream", map[int]map[string]bool{
		1: {"b0": false, "c0": false, "b1": false}, 4: {"b0": false, "b4": false},
		0: {"a2": true, "d2": true, "c0": false}, 2: {"a3": true, "c0": true, "d2copy": true}})

	db(src, 3)("FLUSHALL")
	db(src, 0)("SET", "e0", "x")
	waitCaughtUp(t, ctx, r.s, src, r.errc)
	filteredEqual(t, ctx, cfg, src, dst)
	expectKeys(t, ctx, dst, "after FLUSHALL", map[int]map[string]bool{
		1: {"e0": true, "a0": false}, 0: {"a2": false}, 2: {"a3": false}, 5: {"bystander": true}})

	f := r.s.Tracker().Report().Filtered
	if f == nil || f.Keys[transform.ReasonDB] != 2 || f.Commands[transform.ReasonDB] == 0 || f.CommandsNarrowed[transform.ReasonDB] < 2 {
		t.Errorf("filtered counts: %+v; want 2 snapshot keys of dbs left out, commands dropped and narrowed (MOVE out, FLUSHALL) for db", f)
	}
	if err := r.stop(); err != nil {
		t.Fatalf("Run after a clean stop: %v", err)
	}
}

// Commands the filter cannot apply stop the sync with what and why, or are
// skipped and counted with on-filter-conflict = skip.
func TestSyncFilterConflicts(t *testing.T) {
	tests := []struct {
		name       string
		server     string
		args       []string
		allow      []string
		dbs        []int
		skip       bool
		write      [][]any // on db 0, after the snapshot
		wantErr    string
		wantOnDest string // no error: a key that arrives after the command
	}{
		{name: "move into a synced db", server: redistest.Redis70, dbs: []int{0},
			write: [][]any{{"SELECT", 1}, {"SET", "k", "v"}, {"MOVE", "k", 0}}, wantErr: "moves a key from db 1, which is not synced"},
		{name: "script replicated as EVAL on 6.0", server: redistest.Redis60, args: []string{"lua-replicate-commands", "no"}, allow: []string{"prefix:a"},
			write: [][]any{{"EVAL", "redis.call('set', KEYS[1], 1)", 1, "a1"}}, wantErr: "lua-replicate-commands yes"},
		{name: "script as its effects on 6.0", server: redistest.Redis60, allow: []string{"prefix:a"},
			write: [][]any{{"EVAL", "redis.call('set', KEYS[1], 1) redis.call('set', KEYS[2], 1)", 2, "a1", "b1"}}, wantOnDest: "a1"},
		{name: "swapdb across, skipped", server: redistest.Redis70, dbs: []int{0}, skip: true,
			write: [][]any{{"SWAPDB", 0, 1}, {"SET", "after", "x"}}, wantOnDest: "after"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			src := redistest.Start(t, tt.server, redistest.Options{Args: append(sourceArgs(false), tt.args...)})
			dst := redistest.Start(t, tt.server, redistest.Options{})
			cfg := testConfig(t, src, dst)
			cfg.FilterDBs, cfg.FilterKeysAllow = tt.dbs, tt.allow
			if tt.skip {
				cfg.OnFilterConflict = "skip"
			}
			r := startSyncer(t, ctx, cfg)
			waitCaughtUp(t, ctx, r.s, src, r.errc)
			c := src.Client()
			defer c.Close()
			if _, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
				for _, w := range tt.write {
					p.Do(ctx, w...)
				}
				return nil
			}); err != nil && !errors.Is(err, redis.Nil) {
				t.Fatal(err)
			}
			if tt.wantErr == "" {
				waitCaughtUp(t, ctx, r.s, src, r.errc)
				expectKeys(t, ctx, dst, "after the writes", map[int]map[string]bool{0: {tt.wantOnDest: true, "b1": false}})
				if n := r.s.Tracker().Report().Filtered.Commands[transform.ReasonConflict]; tt.skip && n != 1 {
					t.Errorf("%d conflicts counted, want 1", n)
				}
				return
			}
			select {
			case err := <-r.errc:
				if !errors.Is(err, transform.ErrFilterConflict) || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "on-filter-conflict") {
					t.Fatalf("Run = %v; want a filter conflict saying %q and naming on-filter-conflict", err, tt.wantErr)
				}
				t.Logf("stopped as it should: %v", err)
			case <-time.After(30 * time.Second):
				t.Fatal("the sync did not stop at a command the filter cannot apply")
			}
		})
	}
}

// A new full sync (on-full-resync = flush) with filter-dbs empties only the
// dbs the sync writes to, and starts without the old checkpoint.
func TestOnFullResyncWithDBFilter(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	src := redistest.Start(t, redistest.Redis70, redistest.Options{Args: []string{
		"repl-diskless-sync", "no", "repl-diskless-sync-delay", "0", "repl-backlog-size", "16kb"}})
	dst := redistest.Start(t, redistest.Redis70, redistest.Options{})
	fillSource(t, ctx, src, 300)
	cfg := testConfig(t, src, dst)
	cfg.FilterDBs, cfg.DBMap = []int{0}, "0:2"
	r := startSyncer(t, ctx, cfg)
	waitCaughtUp(t, ctx, r.s, src, r.errc)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	c := src.Client()
	defer c.Close()
	if err := (&redistest.Workload{Seed: 6, Version: src.Version}).Run(ctx, c, 3000); err != nil {
		t.Fatal(err) // far more than the 16 KiB backlog: the restart takes a new snapshot
	}
	for db, key := range map[int]string{5: "bystander", 2: "only-in-target"} {
		dc := dst.ClientDB(db)
		do(t, ctx, dc, []any{"SET", key, "x"})
		dc.Close()
	}
	r = startSyncer(t, ctx, cfg)
	waitCaughtUp(t, ctx, r.s, src, r.errc)
	filteredEqual(t, ctx, cfg, src, dst)
	expectKeys(t, ctx, dst, "after the new full sync", map[int]map[string]bool{5: {"bystander": true}, 2: {"only-in-target": false}})
	if n := syncStat(t, src, "sync_partial_ok"); n != 0 {
		t.Errorf("sync_partial_ok = %d: the restart continued, so this tested no new full sync", n)
	}
}
