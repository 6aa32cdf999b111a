package syncer

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/server"
	"github.com/redferry/redferry/pkg/verify"
)

// TestClusterTargetNewFullSyncForgetsMarks: marks in a cluster target
// without a checkpoint to resume from (a first batch whose Done never
// landed) are read at start, then the start-up decision takes a new full
// sync: with flush-target the target is emptied, with merge its keys are
// kept (and made stale here). The marks are of the stream, so they cover
// every key of the new snapshot: a writer still holding them would skip
// the whole snapshot. The target must end equal to the source.
func TestClusterTargetNewFullSyncForgetsMarks(t *testing.T) {
	src, cl, sc, cc := startSourceAndCluster(t)
	for _, tc := range []struct {
		name        string
		flush       bool
		staleTarget bool // overwrite the target's keys before the new sync (merge keeps them)
	}{
		{name: "flush-target", flush: true},
		{name: "merge", staleTarget: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if err := sc.FlushAll(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			if err := cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error { return m.FlushAll(ctx).Err() }); err != nil {
				t.Fatal(err)
			}
			wl := &redistest.Workload{Seed: 3, Version: src.Version, DBs: 1}
			if err := wl.Fill(ctx, sc, 1500); err != nil {
				t.Fatal(err)
			}
			cfg := testConfig(t, src, cl.Masters[0])
			cfg.BatchCommands, cfg.Name = 200, "forget-"+tc.name
			// The first sync, then a few batches of the stream: every
			// slot's mark is a stream offset.
			if _, err := runOnceWith(t, ctx, cfg, false); err != nil {
				t.Fatalf("first sync: %v", err)
			}
			for i := range 300 {
				if err := sc.Set(ctx, fmt.Sprintf("streamed:%d", i), i, 0).Err(); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := runOnceWith(t, ctx, cfg, false); err != nil {
				t.Fatalf("catching up: %v", err)
			}
			// The state a kill leaves between a first batch's transactions and
			// its Done: the marks of the slots, no checkpoint to resume from.
			opt, err := OptionsFromConfig(cfg, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			ckey := opt.CheckpointKey
			doneMark := ckey + "{" + server.SlotTags()[server.KeySlot(ckey)] + "}"
			if n, err := cc.Del(ctx, doneMark).Result(); err != nil || n != 1 {
				t.Fatalf("DEL %s (the mark holding the checkpoint) = %d, %v; want 1", doneMark, n, err)
			}
			if tc.staleTarget {
				if err := cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
					return overwriteKeys(ctx, m, ckey)
				}); err != nil {
					t.Fatal(err)
				}
			}
			cfg.FlushTarget, cfg.Merge = tc.flush, !tc.flush
			if _, err := runOnceWith(t, ctx, cfg, false); err != nil {
				t.Fatalf("the new full sync: %v", err)
			}
			rep, err := verify.Compare(ctx, sc, cc, verify.Options{IgnoreKeys: func(_ int, key string) bool {
				return strings.HasPrefix(key, ckey)
			}})
			if err != nil {
				t.Fatal(err)
			}
			if !rep.Equal() {
				var b strings.Builder
				for i, d := range rep.Diffs {
					if i == 10 {
						break
					}
					fmt.Fprintf(&b, "  db%d %q %s: %s\n", d.DB, d.Key, d.Kind, d.Detail)
				}
				t.Fatalf("after the new full sync the target cluster differs from the source: %d of %d keys:\n%s",
					rep.DiffCount, rep.KeysChecked, b.String())
			}
			t.Logf("%d keys equal", rep.KeysChecked)
		})
	}
}

// overwriteKeys replaces every key of m but the marks with a string, so
// that a key the new sync does not write again is seen to differ.
func overwriteKeys(ctx context.Context, m *redis.Client, ckey string) error {
	iter := m.Scan(ctx, 0, "*", 1000).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		if strings.HasPrefix(k, ckey) {
			continue
		}
		if err := m.Set(ctx, k, "stale", 0).Err(); err != nil {
			return fmt.Errorf("SET %s on %s: %w", k, m.Options().Addr, err)
		}
	}
	return iter.Err()
}
