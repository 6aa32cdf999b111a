package clustersource

import (
	"testing"

	"github.com/redferry/redferry/internal/redistest"
)

// TestClusterToStandalone syncs a 3-master cluster (one replica each) into a
// standalone server under a non-idempotent write load, through a failover
// of one master and a classic slot migration of keys being written, and
// checks that the target equals the source and that no shard took a second
// full sync.
func TestClusterToStandalone(t *testing.T) {
	for _, name := range versions(redistest.Redis70) {
		t.Run(name, func(t *testing.T) {
			src := redistest.StartClusterWithReplicas(t, name, 3, 1, redistest.Options{})
			dst := redistest.Start(t, redistest.Redis70, redistest.Options{})
			fillCluster(t, src, 1500)
			before := fullSyncs(t, src)

			r := startSV(t, clusterConfig(src, dst, t.TempDir()))
			ld := startLoad(src, 3)
			r.waitStreaming(t, 3)

			src.Failover(t, 1)
			// Move two slots whose keys the load writes, from one master to another.
			slotA, slotB := src.SlotOf(t, "cnt:{5}"), src.SlotOf(t, "list:{9}")
			for _, slot := range []int{slotA, slotB} {
				from := src.Owner(t, slot)
				src.MigrateSlots(t, from, (from+1)%3, slot)
			}
			writes := ld.end()
			r.waitCaughtUp(t, src)
			rep := assertEqual(t, src, dst)
			if got := fullSyncs(t, src) - before; got != 3 {
				t.Errorf("the masters served %d full syncs to redferry, want 3 (one per shard)", got)
			}
			t.Logf("%d writes during the sync, %d keys compared, %d commands of moved keys left out",
				writes, rep.KeysChecked, r.sv.migr.skippedTotal())
		})
	}
}
