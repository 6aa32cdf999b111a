package clustersource

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redferry/redferry/internal/redistest"
)

// TestAtomicSlotMigrationsConcurrent moves slots the non-idempotent load
// writes atomically between several pairs of 3 masters (with replicas) at
// once, two of them in opposite directions between the same masters and of
// the same size, so that they finish close together: each importer's stream
// may wait on the other's (the handoff waits), which must not deadlock. The
// target ends equal to the source after one full sync per shard.
func TestAtomicSlotMigrationsConcurrent(t *testing.T) {
	for _, name := range atomicVersions() {
		t.Run(name, func(t *testing.T) {
			src := redistest.StartClusterWithReplicas(t, name, 3, 1, fast)
			dst := redistest.Start(t, redistest.Valkey91, redistest.Options{})
			fillCluster(t, src, 600)
			// One slot the load writes per master, by owner.
			slotOf := map[int]int{}
			var tags []int
			for n := 0; n < 64 && len(slotOf) < 3; n++ {
				slot := src.SlotOf(t, fmt.Sprintf("cnt:{%d}", n))
				if o := src.Owner(t, slot); slotOf[o] == 0 {
					slotOf[o] = slot
					tags = append(tags, n)
				}
			}
			if len(slotOf) < 3 {
				t.Fatalf("the load writes slots of %d masters only", len(slotOf))
			}
			fillSlots(t, src, 30000, tags...)
			before := fullSyncs(t, src)
			r := startSV(t, clusterConfig(src, dst, t.TempDir()))
			ld := startLoad(src, 3)
			r.waitStreaming(t, 3)
			time.Sleep(300 * time.Millisecond)
			type move struct{ from, to, slot int }
			// Valkey: 0 → 1 and 1 → 0 at once (opposite directions), 2 → 0
			// with them; then the opposite pair back at once. Redis cancels
			// a master's import when an export from it starts: 1 → 0 and
			// 2 → 0 at once, then both back at once, right after.
			phases := [][]move{
				{{0, 1, slotOf[0]}, {1, 0, slotOf[1]}, {2, 0, slotOf[2]}},
				{{1, 0, slotOf[0]}, {0, 1, slotOf[1]}},
			}
			if !strings.HasPrefix(name, "valkey") {
				phases = [][]move{
					{{1, 0, slotOf[1]}, {2, 0, slotOf[2]}},
					{{0, 1, slotOf[1]}, {0, 2, slotOf[2]}},
				}
			}
			for _, phase := range phases {
				var wg sync.WaitGroup
				errs := make(chan error, len(phase))
				for _, mv := range phase {
					wg.Add(1)
					go func() {
						defer wg.Done()
						errs <- startMigration(src, name, mv.from, mv.to, mv.slot)
					}()
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					if err != nil {
						t.Fatal(err)
					}
				}
				for _, mv := range phase {
					waitOwner(t, src, mv.to, mv.slot)
				}
			}
			time.Sleep(300 * time.Millisecond)
			writes := ld.end()
			r.waitCaughtUp(t, src)
			rep := assertEqual(t, src, dst)
			if got := fullSyncs(t, src) - before; got != 3 {
				t.Errorf("the masters served %d full syncs, want 3 (one per shard)", got)
			}
			t.Logf("%d writes, slots (by first owner) %v moved in %d phases, %d keys compared, %d writes of moving slots left out",
				writes, slotOf, len(phases), rep.KeysChecked, r.sv.migr.asm.skippedTotal())
		})
	}
}

// startMigration starts the atomic migration of slot from master from to
// master to, retrying while the server refuses a second job at once.
func startMigration(src *redistest.Cluster, name string, from, to, slot int) error {
	ctx := context.Background()
	var args []any
	on := src.Masters[to]
	if strings.HasPrefix(name, "valkey") {
		on = src.Masters[from]
		args = []any{"CLUSTER", "MIGRATESLOTS", "SLOTSRANGE", slot, slot, "NODE", nodeID(src.Masters[to])}
	} else {
		args = []any{"CLUSTER", "MIGRATION", "IMPORT", slot, slot}
	}
	c := on.Client()
	defer c.Close()
	var err error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if err = c.Do(ctx, args...).Err(); err == nil {
			return nil
		}
	}
	return fmt.Errorf("starting the atomic migration of slot %d from master %d to %d: %w", slot, from, to, err)
}

func nodeID(s *redistest.Server) string {
	c := s.Client()
	defer c.Close()
	id, _ := c.Do(context.Background(), "CLUSTER", "MYID").Text()
	return id
}

// waitOwner waits until every master sees master to as slot's owner.
func waitOwner(t *testing.T, src *redistest.Cluster, to, slot int) {
	t.Helper()
	waitUntil(t, 60*time.Second, "the atomic migration to end", func() (bool, string) {
		if o := src.Owner(t, slot); o != to {
			return false, fmt.Sprintf("slot %d at master %d", slot, o)
		}
		return true, ""
	})
}
