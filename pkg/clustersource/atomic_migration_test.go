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
	"github.com/redferry/redferry/pkg/server"
)

// atomicVersions: the servers with atomic slot migrations; Redis 8.6 with
// REDFERRY_CLUSTER_MATRIX.
func atomicVersions() []string {
	if v := os.Getenv("REDFERRY_CLUSTER_ONLY"); v != "" {
		if v == redistest.Valkey91 || v == redistest.Redis86 {
			return []string{v}
		}
		return nil
	}
	names := []string{redistest.Valkey91}
	if os.Getenv("REDFERRY_CLUSTER_MATRIX") != "" {
		names = append(names, redistest.Redis86)
	}
	return names
}

// migrateAtomically moves slots (all served by one master) to master to
// with the server's atomic slot migration, and waits until every master
// sees to as their owner (waitMigrated).
func migrateAtomically(t *testing.T, src *redistest.Cluster, name string, to int, slots ...int) {
	t.Helper()
	from := src.Owner(t, slots[0])
	failedBefore := make([]int, len(slots))
	for i, slot := range slots {
		failedBefore[i], _ = failedImports(t, src, slotMove{from, to, slot})
	}
	if err := startMigration(src, name, from, to, slots...); err != nil {
		t.Fatal(err)
	}
	for i, slot := range slots {
		waitMigrated(t, src, name, slotMove{from, to, slot}, failedBefore[i])
	}
}

// fillSlots writes n keys of several types into the slots of the tags, so
// that a migration of them takes a moment.
func fillSlots(t *testing.T, src *redistest.Cluster, n int, tags ...int) {
	t.Helper()
	c := src.Client()
	defer c.Close()
	ctx := context.Background()
	p := c.Pipeline()
	for i := 0; i < n; i++ {
		tag := tags[i%len(tags)]
		switch i % 3 {
		case 0:
			p.Set(ctx, fmt.Sprintf("fill:{%d}:%d", tag, i), strings.Repeat("v", 100), 0)
		case 1:
			p.RPush(ctx, fmt.Sprintf("fl:{%d}:%d", tag, i%50), i)
		case 2:
			p.HSet(ctx, fmt.Sprintf("fh:{%d}:%d", tag, i%70), i, i)
		}
		if i%500 == 499 {
			if _, err := p.Exec(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := p.Exec(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestAtomicSlotMigration moves several slots whose keys a non-idempotent
// load writes (INCR, LPUSH, HINCRBY, APPEND, DEL) with the server's atomic
// slot migration while redferry streams, then one of them back: the target
// ends equal to the source, without a second full sync.
// With a cluster target (3 masters), the migrations' record lives in
// one slot of it and is read back from its master.
func TestAtomicSlotMigration(t *testing.T) {
	type target struct {
		name    string
		cluster bool
	}
	var cases []target
	for _, name := range atomicVersions() {
		cases = append(cases, target{name, false})
	}
	cases = append(cases, target{redistest.Valkey91, true})
	for _, tc := range cases {
		name := tc.name
		label := name
		if tc.cluster {
			label += "-into-cluster"
		}
		t.Run(label, func(t *testing.T) {
			src := redistest.StartClusterWithReplicas(t, name, 2, 0, fast)
			var dst *redistest.Server
			var dstCluster *redistest.Cluster
			if tc.cluster {
				dstCluster = redistest.StartCluster(t, redistest.Redis70, 3, redistest.Options{})
				// Not the master of the record's slot (2409): reading it
				// back follows MOVED.
				dst = dstCluster.Masters[2]
			} else {
				dst = redistest.Start(t, redistest.Valkey91, redistest.Options{})
			}
			fillCluster(t, src, 600)
			// The load writes cnt:{n}, list:{n}, hash:{n}, tmp:{n}.
			tags := []int{5, 9, 4, 12}
			fillSlots(t, src, 20000, tags...)
			before := fullSyncs(t, src)
			stateDir := t.TempDir()
			r := startSV(t, clusterConfig(src, dst, stateDir))
			ld := startLoad(t, src, 3)
			r.waitStreaming(t, 2)
			time.Sleep(300 * time.Millisecond)

			byOwner := map[int][]int{}
			for _, tag := range tags {
				slot := src.SlotOf(t, fmt.Sprintf("cnt:{%d}", tag))
				byOwner[src.Owner(t, slot)] = append(byOwner[src.Owner(t, slot)], slot)
			}
			var moved []int
			for from, slots := range byOwner {
				migrateAtomically(t, src, name, 1-from, slots...)
				moved = append(moved, slots...)
				time.Sleep(200 * time.Millisecond)
			}
			// And one back.
			back := moved[0]
			migrateAtomically(t, src, name, 1-src.Owner(t, back), back)
			time.Sleep(300 * time.Millisecond)
			writes := ld.end()
			r.waitCaughtUp(t, src)
			var keys int64
			if tc.cluster {
				// A restart reads the migrations' record back from the
				// target master serving its slot.
				if err := r.stop(); err != nil {
					t.Fatal(err)
				}
				r = startSV(t, clusterConfig(src, dst, stateDir))
				r.waitStreaming(t, 2)
				r.waitCaughtUp(t, src)
				keys = assertEqual(t, src, dstCluster).KeysChecked
			} else {
				keys = assertEqual(t, src, dst).KeysChecked
			}
			if got := fullSyncs(t, src) - before; got != 2 {
				t.Errorf("the masters served %d full syncs to redferry, want 2 (one per shard)", got)
			}
			t.Logf("%d writes during the sync, slots %v moved and %d back, %d keys compared, %d writes of moving slots left out",
				writes, moved, back, keys, r.sv.migr.asm.skippedTotal())
		})
	}
}

// replOffset is a master's master_repl_offset.
func replOffset(c *redis.Client) int64 {
	info, _ := server.Fetch(context.Background(), c)
	return info.MasterReplOffset
}

// waitCopying waits (up to 2 s) until the importer's stream has grown by
// 100 kB of the copy: a cancel then leaves it a copy to clean up.
func waitCopying(imp *redis.Client, before int64) {
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		if replOffset(imp) > before+100_000 {
			return
		}
	}
}

// TestAtomicSlotMigrationCancelled cancels atomic migrations of slots a
// load writes while the importer copies them: the importer's copy and its
// clean-up are left out, the slots stay with the exporter, and the target
// ends equal to the source without a second full sync.
func TestAtomicSlotMigrationCancelled(t *testing.T) {
	for _, name := range atomicVersions() {
		t.Run(name, func(t *testing.T) {
			src := redistest.StartClusterWithReplicas(t, name, 2, 0, fast)
			dst := redistest.Start(t, redistest.Valkey91, redistest.Options{})
			tags := []int{5, 9}
			fillSlots(t, src, 60000, tags...)
			before := fullSyncs(t, src)
			r := startSV(t, clusterConfig(src, dst, t.TempDir()))
			ld := startLoad(t, src, 2)
			r.waitStreaming(t, 2)
			ctx := context.Background()
			cancelled := 0
			for _, tag := range tags {
				slot := src.SlotOf(t, fmt.Sprintf("cnt:{%d}", tag))
				from := src.Owner(t, slot)
				to := 1 - from
				exp, imp := src.Masters[from].Client(), src.Masters[to].Client()
				before := replOffset(imp)
				var err error
				if strings.HasPrefix(name, "valkey") {
					err = exp.Do(ctx, "CLUSTER", "MIGRATESLOTS", "SLOTSRANGE", slot, slot, "NODE", redistest.NodeID(t, src.Masters[to])).Err()
					waitCopying(imp, before)
					if err == nil {
						err = exp.Do(ctx, "CLUSTER", "CANCELSLOTMIGRATIONS").Err()
					}
				} else {
					err = imp.Do(ctx, "CLUSTER", "MIGRATION", "IMPORT", slot, slot).Err()
					waitCopying(imp, before)
					if err == nil {
						err = imp.Do(ctx, "CLUSTER", "MIGRATION", "CANCEL", "ALL").Err()
					}
				}
				exp.Close()
				imp.Close()
				if err != nil {
					t.Fatalf("migrating and cancelling slot %d: %v", slot, err)
				}
				time.Sleep(500 * time.Millisecond)
				if src.Owner(t, slot) == from {
					cancelled++
				}
			}
			if cancelled == 0 || r.sv.migr.asm.skippedTotal() == 0 {
				t.Fatalf("%d migrations cancelled, %d writes of their copies left out: nothing of a failed migration was tested",
					cancelled, r.sv.migr.asm.skippedTotal())
			}
			ld.end()
			r.waitCaughtUp(t, src)
			rep := assertEqual(t, src, dst)
			if got := fullSyncs(t, src) - before; got != 2 {
				t.Errorf("the masters served %d full syncs to redferry, want 2 (one per shard)", got)
			}
			t.Logf("%d of %d migrations cancelled, %d keys compared, %d writes of the importer's copies left out",
				cancelled, len(tags), rep.KeysChecked, r.sv.migr.asm.skippedTotal())
		})
	}
}

// TestAtomicSlotMigrationAtFirstSync starts the sync while an atomic
// migration copies a large slot: the first full syncs wait until it has
// ended (an importer's snapshot would hold part of the slot), and the
// target ends equal to the source.
func TestAtomicSlotMigrationAtFirstSync(t *testing.T) {
	for _, name := range atomicVersions() {
		t.Run(name, func(t *testing.T) {
			src := redistest.StartClusterWithReplicas(t, name, 2, 0, fast)
			dst := redistest.Start(t, redistest.Valkey91, redistest.Options{})
			fillSlots(t, src, 80000, 5)
			slot := src.SlotOf(t, "cnt:{5}")
			from := src.Owner(t, slot)
			ld := startLoad(t, src, 2)
			mv := slotMove{from, 1 - from, slot}
			failedBefore, _ := failedImports(t, src, mv)
			started := make(chan error, 1)
			go func() { started <- startMigration(src, name, mv.from, mv.to, slot) }()
			time.Sleep(20 * time.Millisecond)
			r := startSV(t, clusterConfig(src, dst, t.TempDir()))
			if err := <-started; err != nil {
				t.Fatal(err)
			}
			waitMigrated(t, src, name, mv, failedBefore)
			r.waitStreaming(t, 2)
			time.Sleep(300 * time.Millisecond)
			ld.end()
			r.waitCaughtUp(t, src)
			assertEqual(t, src, dst)
		})
	}
}
