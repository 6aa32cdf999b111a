package syncer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/config"
	"github.com/redferry/redferry/pkg/verify"
	"github.com/redferry/redferry/transform"
)

// filteredEqual compares what the filter takes of the source with the target.
func filteredEqual(t *testing.T, ctx context.Context, cfg config.Config, src, dst *redistest.Server, ignore ...string) {
	t.Helper()
	f, err := cfg.Filter()
	if err != nil {
		t.Fatal(err)
	}
	sc, dc := src.Client(), dst.Client()
	defer sc.Close()
	defer dc.Close()
	rep, err := verify.Compare(ctx, sc, dc, verify.Options{Filter: f, IgnoreKeys: func(_ int, key string) bool {
		for _, k := range ignore {
			if key == k {
				return true
			}
		}
		return strings.HasPrefix(key, "redferry:checkpoint:")
	}})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Equal() {
		var b strings.Builder
		for _, d := range rep.Diffs {
			fmt.Fprintf(&b, "  %s\n", d)
		}
		t.Fatalf("the target differs from what the filter takes of the source: %d diffs of %d keys:\n%s", rep.DiffCount, rep.KeysChecked, b.String())
	}
	if rep.KeysChecked == 0 {
		t.Fatal("verify compared no keys")
	}
	t.Logf("%d keys equal under the filter", rep.KeysChecked)
}

// expectKeys checks that each key is on the target (db: value) or not.
func expectKeys(t *testing.T, ctx context.Context, dst *redistest.Server, when string, want map[int]map[string]bool) {
	t.Helper()
	for db, keys := range want {
		c := dst.ClientDB(db)
		for k, present := range keys {
			n, err := c.Exists(ctx, k).Result()
			if err != nil {
				t.Fatal(err)
			}
			if (n == 1) != present {
				t.Errorf("%s: target db %d key %q present = %v, want %v", when, db, k, n == 1, present)
			}
		}
		c.Close()
	}
}

func do(t *testing.T, ctx context.Context, c *redis.Client, cmds ...[]any) {
	t.Helper()
	for _, args := range cmds {
		if err := c.Do(ctx, args...).Err(); err != nil && !errors.Is(err, redis.Nil) {
			t.Fatalf("%v: %v", args, err)
		}
	}
}

// One sync applies key, type and command filters and a db map to the
// snapshot and to the stream (the random workload: MULTI, scripts as their
// effects, RENAME, MOVE and SELECT between dbs, DEL of several keys); the
// target then equals what the filter takes of the source.
func TestSyncFilters(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	src := redistest.Start(t, redistest.Redis70, redistest.Options{Args: sourceArgs(false)})
	dst := redistest.Start(t, redistest.Redis70, redistest.Options{})
	sc := src.Client()
	defer sc.Close()
	wl := &redistest.Workload{Seed: 5, Version: src.Version, Functions: true}
	if err := wl.Fill(ctx, sc, 600); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, sc, []any{"SET", "user:1", "a"}, []any{"SET", "user:tmp:1", "a"}, []any{"SET", "order:1", "a"},
		[]any{"HSET", "cart:v2", "f", "v"}, []any{"RPUSH", "s42", "a"}, []any{"RPUSH", "s42x", "a"},
		[]any{"SADD", "user:set", "m"}, []any{"SET", "user:sr", "hello"})
	db2 := src.ClientDB(2)
	defer db2.Close()
	do(t, ctx, db2, []any{"SET", "user:db2", "x"})

	cfg := testConfig(t, src, dst)
	cfg.DBMap = "0:1,1:2,2:0"
	cfg.FilterKeysAllow = []string{"prefix:wl:", "prefix:r:", "prefix:user:", "glob:*:v2", "regex:^s[0-9]+$"}
	cfg.FilterKeysDeny = []string{"glob:wl:[13]:*", "prefix:r:str:", "regex:^r:cnt:[0-9]*7$", "prefix:user:tmp:"}
	cfg.FilterTypesDrop = []string{"stream", "set"}
	cfg.FilterCommandsDrop = []string{"setrange"}
	r := startSyncer(t, ctx, cfg)
	if err := wl.Run(ctx, sc, 1500); err != nil {
		t.Fatal(err)
	}
	waitCaughtUp(t, ctx, r.s, src, r.errc)
	do(t, ctx, sc, []any{"MSET", "user:2", "b", "order:2", "b"}, []any{"DEL", "user:1", "order:1"},
		[]any{"SETRANGE", "user:sr", "0", "J"}, []any{"SADD", "user:set2", "m"}, []any{"XADD", "user:x", "*", "a", "b"},
		[]any{"RENAME", "user:2", "order:3"}, []any{"EVAL", "redis.call('set', KEYS[1], 1) redis.call('set', KEYS[2], 1)", 2, "user:e", "order:e"})
	if err := wl.Run(ctx, sc, 1500); err != nil {
		t.Fatal(err)
	}
	waitCaughtUp(t, ctx, r.s, src, r.errc)

	filteredEqual(t, ctx, cfg, src, dst, "user:sr")
	expectKeys(t, ctx, dst, "after the stream", map[int]map[string]bool{
		1: {"user:1": false, "user:tmp:1": false, "order:1": false, "cart:v2": true, "s42": true, "s42x": false,
			"user:set": false, "user:set2": false, "user:x": false, "user:2": false, "order:3": false, "user:e": true, "order:e": false},
		0: {"user:db2": true},
	})
	tc := dst.ClientDB(1)
	defer tc.Close()
	if v, _ := tc.Get(ctx, "user:sr").Result(); v != "hello" {
		t.Errorf("user:sr = %q on the target, want \"hello\": SETRANGE is in filter-commands-drop", v)
	}
	rep := r.s.Tracker().Report()
	if f := rep.Filtered; f == nil || f.Keys[transform.ReasonKey] == 0 || f.Keys[transform.ReasonType] == 0 ||
		f.Commands[transform.ReasonKey] == 0 || f.Commands[transform.ReasonType] == 0 || f.Commands[transform.ReasonCommand] != 1 ||
		f.CommandsNarrowed[transform.ReasonKey] == 0 {
		t.Errorf("the filtered counts miss a reason: %+v", rep.Filtered)
	} else {
		t.Logf("filtered: keys %v, commands %v, narrowed %v", f.Keys, f.Commands, f.CommandsNarrowed)
	}
	if err := r.stop(); err != nil {
		t.Fatalf("Run after a clean stop: %v", err)
	}
}

// COPY … REPLACE under a type filter becomes a script (a copy of a dropped
// type must not leave the old value behind); it works on a target older than
// COPY: a 7.0 source into 6.0.
func TestSyncFilterCopyIntoOldTarget(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	src := redistest.Start(t, redistest.Redis70, redistest.Options{Args: sourceArgs(false)})
	dst := redistest.Start(t, redistest.Redis60, redistest.Options{})
	sc := src.Client()
	defer sc.Close()
	cfg := testConfig(t, src, dst)
	cfg.FilterTypesDrop = []string{"set"}
	r := startSyncer(t, ctx, cfg)
	waitCaughtUp(t, ctx, r.s, src, r.errc) // the copies come through the stream
	do(t, ctx, sc, []any{"SET", "a", "1"}, []any{"PEXPIRE", "a", "600000"}, []any{"SET", "b", "old"},
		[]any{"COPY", "a", "b", "REPLACE"}, []any{"COPY", "a", "c", "DB", "1", "REPLACE"},
		[]any{"SADD", "s", "m"}, []any{"SET", "gone", "x"}, []any{"COPY", "s", "gone", "REPLACE"})
	waitCaughtUp(t, ctx, r.s, src, r.errc)
	filteredEqual(t, ctx, cfg, src, dst)
	expectKeys(t, ctx, dst, "after the copies", map[int]map[string]bool{
		0: {"a": true, "b": true, "s": false, "gone": false},
		1: {"c": true},
	})
	if err := r.stop(); err != nil {
		t.Fatalf("Run after a clean stop: %v", err)
	}
}
