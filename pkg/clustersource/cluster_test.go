package clustersource

import (
	"fmt"
	"testing"
	"time"

	"github.com/redferry/redferry/internal/redistest"
)

// TestClusterToStandalone syncs a 3-master cluster (one replica each) into a
// standalone server under a non-idempotent write load, through a failover
// of one master and a classic slot migration of keys being written, and
// checks that the target equals the source and that no shard took a second
// full sync.
func TestClusterToStandalone(t *testing.T) {
	for _, name := range versions(redistest.Redis70) {
		t.Run(name, func(t *testing.T) { clusterToStandalone(t, name, redistest.Redis70) })
	}
}

// TestClusterScaleOut adds a master while the sync runs and moves slots
// whose keys the load writes to it: the new master gets a link of its own
// and the target still equals the source.
func TestClusterScaleOut(t *testing.T) {
	for _, name := range versions(redistest.Valkey91) {
		t.Run(name, func(t *testing.T) {
			src := redistest.StartClusterWithReplicas(t, name, 3, 0, fast)
			dst := redistest.Start(t, redistest.Valkey91, redistest.Options{})
			fillCluster(t, src, 900)
			r := startSV(t, clusterConfig(src, dst, t.TempDir()))
			ld := startLoad(t, src, 2)
			r.waitStreaming(t, 3)

			added := src.AddMaster(t)
			r.waitStreaming(t, 4)
			for _, key := range []string{"cnt:{1}", "list:{2}", "hash:{3}", "tmp:{4}", "str:3"} {
				slot := src.SlotOf(t, key)
				src.MigrateSlots(t, src.Owner(t, slot), added, slot)
			}
			ld.end()
			r.waitCaughtUp(t, src)
			assertEqual(t, src, dst, r)
			if n := len(r.sv.Masters()); n != 4 {
				t.Errorf("%d links run, want 4 (one per master)", n)
			}
		})
	}
}

// TestClusterMasterKilled: a master dies (SIGKILL) and the cluster promotes
// its replica by itself; the shard's link follows it with PSYNC, no new full
// sync, and the target equals the source. Writes stop just before the kill
// so that the replica has everything (otherwise the source itself loses
// writes the target already has, which redferry reports: see the README).
func TestClusterMasterKilled(t *testing.T) {
	for _, name := range versions(redistest.Redis80) {
		t.Run(name, func(t *testing.T) {
			src := redistest.StartClusterWithReplicas(t, name, 3, 1, fast)
			dst := redistest.Start(t, redistest.Valkey91, redistest.Options{})
			fillCluster(t, src, 600)
			before := fullSyncs(t, src)
			r := startSV(t, clusterConfig(src, dst, t.TempDir()))
			ld := startLoad(t, src, 2)
			r.waitStreaming(t, 3)
			time.Sleep(300 * time.Millisecond)
			ld.end()
			src.Replicas[0][0].WaitCaughtUp(t, src.Masters[0])
			r.waitCaughtUp(t, src)
			src.KillMaster(t, 0)
			ld = startLoad(t, src, 2)
			time.Sleep(500 * time.Millisecond)
			ld.end()
			r.waitCaughtUp(t, src)
			assertEqual(t, src, dst)
			if got := fullSyncs(t, src) - before; got > 3 {
				t.Errorf("the live masters served %d full syncs to redferry, want at most 3 (none after the failover)", got)
			}
		})
	}
}

// TestClusterMasterRemoved: a master added during the sync receives slots
// under load, gives them away again (once the records of the first move
// are dropped) and leaves the cluster; its link stops once its stream is
// applied, and the target equals the source.
func TestClusterMasterRemoved(t *testing.T) {
	for _, name := range versions(redistest.Redis70) {
		t.Run(name, func(t *testing.T) {
			src := redistest.StartClusterWithReplicas(t, name, 3, 0, fast)
			dst := redistest.Start(t, redistest.Valkey91, redistest.Options{})
			fillCluster(t, src, 600)
			r := startSVGrace(t, clusterConfig(src, dst, t.TempDir()), 300*time.Millisecond)
			ld := startLoad(t, src, 2)
			r.waitStreaming(t, 3)
			added := src.AddMaster(t)
			r.waitStreaming(t, 4)
			var slots []int
			for _, key := range []string{"cnt:{1}", "list:{2}", "tmp:{4}"} {
				slot := src.SlotOf(t, key)
				from := src.Owner(t, slot)
				src.MigrateSlots(t, from, added, slot)
				slots = append(slots, slot)
			}
			// A slot moves again once the records of its last move are gone.
			r.waitImportsExpired(t)
			src.MigrateSlots(t, added, 0, slots...)
			src.RemoveMaster(t, added)
			ld.end()
			r.waitCaughtUp(t, src)
			waitUntil(t, 30*time.Second, "the removed master's link to stop", func() (bool, string) {
				n := len(r.sv.Masters())
				return n == 3 && len(r.sv.Tracker().Shards()) == 3, fmt.Sprintf("%d links", n)
			})
			assertEqual(t, src, dst)
		})
	}
}
