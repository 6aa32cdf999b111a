package replay_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/replay"
	"github.com/redferry/redferry/pkg/verify"
	"github.com/redferry/redferry/sink"
	"github.com/redferry/redferry/transform"
)

// dumpRDB saves srv and returns its dump.rdb.
func dumpRDB(t *testing.T, srv *redistest.Server) []byte {
	t.Helper()
	if err := srv.Client().Save(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(srv.Dir, "dump.rdb"))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// fillExtras adds what only RESTORE copies exactly: a stream whose group
// PEL names an entry deleted since, and (where the server has them) hash
// field TTLs.
func fillExtras(t *testing.T, c *redis.Client, fieldTTL bool) {
	t.Helper()
	ctx := context.Background()
	for _, id := range []string{"1-1", "1-2", "1-3"} {
		if err := c.XAdd(ctx, &redis.XAddArgs{Stream: "x:pel", ID: id, Values: []string{"f", id}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	must(t, c.XGroupCreate(ctx, "x:pel", "g", "0").Err())
	must(t, c.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g", Consumer: "c1", Streams: []string{"x:pel", ">"}}).Err())
	must(t, c.XDel(ctx, "x:pel", "1-2").Err())
	if fieldTTL {
		must(t, c.HSet(ctx, "h:ttl", "a", "1", "b", "2", "c", "3").Err())
		must(t, c.Do(ctx, "HPEXPIREAT", "h:ttl", time.Now().Add(time.Hour).UnixMilli(), "FIELDS", 2, "a", "b").Err())
		// A hashtable: its one field with a TTL comes after others, which
		// a re-encoding has taken by then and must give back to commands.
		for i := 0; i < 300; i++ {
			must(t, c.HSet(ctx, "h:ttl:big", fmt.Sprintf("f%d", i), i).Err())
		}
		must(t, c.Do(ctx, "HPEXPIREAT", "h:ttl:big", time.Now().Add(time.Hour).UnixMilli(), "FIELDS", 1, "f150").Err())
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// loadInto replays snapshot into target and returns the stats.
func loadInto(t *testing.T, data []byte, target *redistest.Server, opt replay.SnapshotOptions) transform.RestoreStats {
	t.Helper()
	ctx := context.Background()
	st, err := sink.NewStandalone(ctx, sink.Config{Addr: target.Addr})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var stats transform.RestoreStats
	opt.Stats, opt.ProbeRestore = &stats, st.ProbeRestore
	if opt.BatchCommands == 0 {
		opt.BatchCommands, opt.BatchBytes = 500, 1<<20
	}
	b := &sink.Batch{}
	flush := func(ctx context.Context, b *sink.Batch, _ int64, db int) error {
		err := st.Apply(ctx, b)
		b.Reset()
		b.StartDB = db
		return err
	}
	if _, err := replay.Snapshot(ctx, bytes.NewReader(data), st.Server(), opt, b, flush, nil); err != nil {
		t.Fatal(err)
	}
	must(t, st.Apply(ctx, b))
	return stats
}

func compare(t *testing.T, src, dst *redistest.Server) {
	t.Helper()
	rep, err := verify.Compare(context.Background(), src.Client(), dst.Client(), verify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Equal() {
		t.Fatalf("%d differences, first: %v", rep.DiffCount, rep.Diffs)
	}
}

// TestRestorePairs: every same-version and upgrade pair RESTOREs (all keys
// of a filled server, a PEL naming a deleted entry, hash field TTLs); a
// downgrade or a Redis ↔ Valkey 9 pair RESTOREs the values re-encoded for
// the target and rebuilds the rest (streams, field TTLs) by commands; the
// target then equals the source.
func TestRestorePairs(t *testing.T) {
	pairs := []struct {
		src, dst string
		restore  bool // RESTORE of the snapshot's payloads expected (else re-encoded ones)
	}{
		{redistest.Redis60, redistest.Redis60, true},
		{redistest.Redis60, redistest.Redis70, true},
		{redistest.Redis60, redistest.Valkey81, true},
		{redistest.Redis70, redistest.Redis70, true},
		{redistest.Valkey81, redistest.Valkey81, true},
		{redistest.Valkey81, redistest.Redis80, true},
		{redistest.Redis806, redistest.Redis806, true},
		{redistest.Redis70, redistest.Redis80, true},
		{redistest.Redis70, redistest.Valkey91, true},
		{redistest.Redis80, redistest.Redis806, true},
		{redistest.Redis80, redistest.Redis80, true},
		{redistest.Valkey81, redistest.Valkey91, true},
		{redistest.Valkey91, redistest.Valkey91, true},
		{redistest.Valkey91, redistest.Redis80, false},
		{redistest.Redis80, redistest.Redis70, false},
		{redistest.Redis80, redistest.Redis86, true},
		{redistest.Redis86, redistest.Redis806, false},
		{redistest.Redis80, redistest.Redis60, false},
		{redistest.Valkey91, redistest.Redis70, false},
		{redistest.Redis806, redistest.Valkey91, false},
		{redistest.Redis86, redistest.Valkey81, false},
	}
	for _, p := range pairs {
		t.Run(p.src+"->"+p.dst, func(t *testing.T) {
			src := redistest.Start(t, p.src, redistest.Options{})
			hfe := strings.HasPrefix(p.src, "redis-8") || strings.HasPrefix(p.src, "valkey-9")
			hfe = hfe && (strings.HasPrefix(p.dst, "redis-8") || strings.HasPrefix(p.dst, "valkey-9"))
			w := redistest.Workload{Seed: 7, Version: src.Version, HashFieldTTL: hfe}
			must(t, w.Fill(context.Background(), src.Client(), 400))
			fillExtras(t, src.Client(), hfe)
			data := dumpRDB(t, src)
			dst := redistest.Start(t, p.dst, redistest.Options{})
			stats := loadInto(t, data, dst, replay.SnapshotOptions{})
			t.Logf("%+v", stats)
			// Small strings are SET even where RESTORE works (cheaper for the target).
			if stats.Restored == 0 || p.restore && stats.Reencoded != 0 || !p.restore && stats.Reencoded != stats.Restored {
				t.Fatalf("stats %+v, want restore=%v", stats, p.restore)
			}
			if !p.restore && stats.Rebuilt == 0 {
				t.Fatalf("stats %+v: streams must be rebuilt by commands", stats)
			}
			compare(t, src, dst)
		})
	}
}

// TestRestoreKeepsLRUAndLFU: RESTORE carries a key's idle time (LRU) or
// access frequency (LFU) along, which commands cannot.
func TestRestoreKeepsLRUAndLFU(t *testing.T) {
	ctx := context.Background()
	for _, policy := range []string{"allkeys-lru", "allkeys-lfu"} {
		t.Run(policy, func(t *testing.T) {
			args := redistest.Options{Args: []string{"maxmemory-policy", policy}}
			src := redistest.Start(t, redistest.Redis70, args)
			c := src.Client()
			must(t, c.Set(ctx, "k", "v", 0).Err())
			for i := 0; i < 200; i++ {
				c.Get(ctx, "k")
			}
			if policy == "allkeys-lru" {
				time.Sleep(2100 * time.Millisecond)
			}
			data := dumpRDB(t, src)
			dst := redistest.Start(t, redistest.Redis80, args)
			loadInto(t, data, dst, replay.SnapshotOptions{})
			if policy == "allkeys-lru" {
				if idle := dst.Client().ObjectIdleTime(ctx, "k").Val(); idle < 2*time.Second {
					t.Fatalf("OBJECT IDLETIME on the target: %s, want >= 2s", idle)
				}
			} else if f := dst.Client().ObjectFreq(ctx, "k").Val(); f < 5 {
				t.Fatalf("OBJECT FREQ on the target: %d, want the source's (> 5)", f)
			}
		})
	}
}
