package clustersource

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/checkpoint"
)

// TestClusterNumberedDBs: Valkey 9 keeps numbered dbs in cluster mode
// (cluster-databases); every key reaches the same db of the target, through
// the snapshot, the stream, a classic migration of a slot holding keys in
// several dbs, and a failover.
func TestClusterNumberedDBs(t *testing.T) {
	ctx := context.Background()
	src := redistest.StartClusterWithReplicas(t, redistest.Valkey91, 3, 1, redistest.Options{Args: []string{"cluster-databases", "4", "repl-diskless-sync-delay", "0"}})
	dst := redistest.Start(t, redistest.Valkey91, redistest.Options{})
	write := func(db, i int, what string) {
		key := fmt.Sprintf("{t%d}:db%d:%s", i%40, db, what)
		c := src.Masters[src.Owner(t, src.SlotOf(t, key))].ClientDB(db)
		defer c.Close()
		if err := c.Incr(ctx, key).Err(); err != nil {
			t.Fatal(err)
		}
		if err := c.RPush(ctx, key+":l", i).Err(); err != nil {
			t.Fatal(err)
		}
	}
	for db := 0; db < 3; db++ {
		for i := 0; i < 120; i++ {
			write(db, i, "snap")
		}
	}
	r := startSV(t, clusterConfig(src, dst, t.TempDir()))
	r.waitStreaming(t, 3)
	for db := 0; db < 3; db++ {
		for i := 0; i < 120; i++ {
			write(db, i, "stream")
		}
	}
	slot := src.SlotOf(t, "t3")
	from := src.Owner(t, slot)
	src.MigrateSlots(t, from, (from+1)%3, slot)
	src.Failover(t, 2)
	for db := 0; db < 3; db++ {
		for i := 0; i < 40; i++ {
			write(db, i, "after")
		}
	}
	r.waitCaughtUp(t, src)
	assertEqualDBs(t, src, dst, []int{0, 1, 2})
}

// assertEqualDBs compares every key of every master (strings and lists,
// the types the test writes), db by db, with the target, and checks that
// the target holds no other key.
func assertEqualDBs(t *testing.T, src *redistest.Cluster, dst *redistest.Server, dbs []int) {
	t.Helper()
	ctx := context.Background()
	for _, db := range dbs {
		tc := dst.ClientDB(db)
		var total int64
		for _, m := range src.Masters {
			mc := m.ClientDB(db)
			keys, err := mc.Keys(ctx, "*").Result()
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range keys {
				var want, got any
				switch typ := mc.Type(ctx, k).Val(); typ {
				case "string":
					want, got = mc.Get(ctx, k).Val(), tc.Get(ctx, k).Val()
				case "list":
					want, got = strings.Join(mc.LRange(ctx, k, 0, -1).Val(), ","), strings.Join(tc.LRange(ctx, k, 0, -1).Val(), ",")
				default:
					t.Fatalf("unexpected type %s of %s", typ, k)
				}
				if want != got {
					t.Fatalf("db %d key %s: source %v, target %v", db, k, want, got)
				}
			}
			total += int64(len(keys))
			mc.Close()
		}
		n := tc.DBSize(ctx).Val()
		ours, _ := tc.Keys(ctx, checkpoint.KeyPrefix+"*").Result()
		tc.Close()
		if n-int64(len(ours)) != total || total == 0 {
			t.Fatalf("db %d: the target holds %d keys of data, the masters %d", db, n-int64(len(ours)), total)
		}
		t.Logf("db %d: %d keys equal", db, total)
	}
}
