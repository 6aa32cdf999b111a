package clustersource

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redferry/redferry/internal/redistest"
)

// TestAtomicMigrationFreshShard syncs one shard afresh (its checkpoint and
// spool removed, as after a lost spool) while an atomic migration of a
// large slot a load writes moves into it, the other shard resuming its
// stream: the fresh shard's full sync waits for the migration's end, its
// snapshot (the slot whole) lands after the exporter's stream has applied
// its writes and trim of the slot, and the target ends equal to the source.
//
// Synced afresh instead, the exporter's stream no longer holds the
// migration the resumed importer's stream is still to apply: the importer
// replaces the target's keys of the slots with its copy.
func TestAtomicMigrationFreshShard(t *testing.T) {
	for _, name := range atomicVersions() {
		for _, side := range []string{"importer", "exporter"} {
			t.Run(name+"-fresh-"+side, func(t *testing.T) { freshShard(t, name, side) })
		}
	}
}

func freshShard(t *testing.T, name, side string) {
	{
		{
			ctx := context.Background()
			src := redistest.StartClusterWithReplicas(t, name, 2, 0, redistest.Options{
				Args: []string{"repl-diskless-sync-delay", "0", "repl-backlog-size", "64mb"}})
			dst := redistest.Start(t, redistest.Valkey91, redistest.Options{})
			fillCluster(t, src, 600)
			fillSlots(t, src, 60000, 5)
			slot := src.SlotOf(t, "cnt:{5}")
			from := src.Owner(t, slot)
			to := 1 - from
			before := fullSyncs(t, src)
			stateDir := t.TempDir()
			cfg := clusterConfig(src, dst, stateDir)
			r := startSV(t, cfg)
			// Without deletes: keys the fresh shard's master deletes while
			// it has no checkpoint stay in the target (merge).
			ld := startCountingLoad(t, src)
			r.waitStreaming(t, 2)
			time.Sleep(300 * time.Millisecond)
			fresh := to
			if side == "exporter" {
				fresh = from
			}
			importer := ""
			for n, addr := range r.sv.Masters() {
				if addr == src.Masters[fresh].Addr {
					importer = n
				}
			}
			base := r.sv.opt.Sync.CheckpointKey
			if err := r.stop(); err != nil {
				t.Fatal(err)
			}
			// The shard loses its checkpoint and spool.
			dc := dst.Client()
			defer dc.Close()
			keys, err := dc.Keys(ctx, base+":"+importer+"*").Result()
			if err != nil || len(keys) == 0 {
				t.Fatalf("the %s shard's checkpoint %s:%s: %v %v", side, base, importer, keys, err)
			}
			if err := dc.Del(ctx, keys...).Err(); err != nil {
				t.Fatal(err)
			}
			if err := os.RemoveAll(shardDir(stateDir, importer)); err != nil {
				t.Fatal(err)
			}
			mv := slotMove{from: from, to: to, slot: slot}
			failedBefore, _ := failedImports(t, src, mv)
			if err := startMigration(src, name, from, to, slot); err != nil {
				t.Fatal(err)
			}
			cfg.Merge = true
			r = startSV(t, cfg)
			waitMigrated(t, src, name, mv, failedBefore)
			time.Sleep(300 * time.Millisecond)
			writes := ld.end()
			r.waitCaughtUp(t, src)
			rep := assertEqual(t, src, dst)
			if got := fullSyncs(t, src) - before; got != 3 {
				t.Errorf("the masters served %d full syncs, want 3 (one per shard, and the fresh shard's)", got)
			}
			t.Logf("%d writes, slot %d moved, the %s %s synced afresh, %d keys compared", writes, slot, side, shortID(importer), rep.KeysChecked)
		}
	}
}

// startCountingLoad runs INCR and RPUSH on the keys startLoad writes.
func startCountingLoad(t testing.TB, src *redistest.Cluster) *load {
	l := newLoad(t)
	l.add(src, 1, func(ctx context.Context, c *redis.ClusterClient, _, i int) error {
		n := i % 64
		if i%2 == 0 {
			return c.Incr(ctx, fmt.Sprintf("cnt:{%d}", n)).Err()
		}
		return c.RPush(ctx, fmt.Sprintf("list:{%d}", n), i).Err()
	})
	return l
}

func shortID(s string) string {
	if len(s) > 8 {
		return s[:8]
	}
	return fmt.Sprint(strings.TrimSpace(s))
}
