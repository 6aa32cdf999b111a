package clustersource

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/redferry/redferry/internal/redistest"
)

// TestLegacyClusterToStandalone: a Redis 6.0 cluster (no CLUSTER SHARDS, no
// shard ids; its importing masters propagate RESTORE-ASKING with a relative
// TTL) into standalone targets of today, through a failover and a classic
// slot migration under load. `make test` runs the Valkey 9.1 target,
// REDFERRY_CLUSTER_MATRIX=1 the others.
func TestLegacyClusterToStandalone(t *testing.T) {
	targets := []string{redistest.Valkey91}
	if os.Getenv("REDFERRY_CLUSTER_MATRIX") != "" {
		targets = append(targets, redistest.Redis80, redistest.Redis60)
	}
	for _, target := range targets {
		t.Run(redistest.Redis60+"_to_"+target, func(t *testing.T) { clusterToStandalone(t, redistest.Redis60, target) })
	}
}

// clusterToStandalone syncs a 3-master cluster (one replica each) of
// source into a standalone target under a non-idempotent write load,
// through a failover of one master and a classic slot migration of keys
// being written (and of keys with a TTL), and checks that the target equals the source and that no
// shard took a second full sync.
func clusterToStandalone(t *testing.T, source, target string) {
	src := redistest.StartClusterWithReplicas(t, source, 3, 1, fast)
	dst := redistest.Start(t, target, redistest.Options{})
	fillCluster(t, src, 1500)
	// Keys with a TTL in the slot that moves: a 6.0 importer propagates
	// their RESTORE-ASKING with a relative TTL, 7.0+ with an absolute one.
	cc := src.Client()
	for i := range 10 {
		if err := cc.Set(context.Background(), fmt.Sprintf("ttl:{5}:%d", i), i, 10*time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
	}
	cc.Close()
	before := fullSyncs(t, src)

	r := startSV(t, clusterConfig(src, dst, t.TempDir()))
	ld := startLoad(t, src, 3)
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
	if n := len(r.sv.Tracker().Shards()); n != 3 {
		t.Errorf("%d shards after the failover, want 3 (the promoted replica is the same shard)", n)
	}
	t.Logf("%d writes during the sync, %d keys compared, %d commands of moved keys left out",
		writes, rep.KeysChecked, r.sv.migr.skippedTotal())
}

// TestLegacyClusterToCluster (REDFERRY_CLUSTER_MATRIX=1): a Redis 6.0
// cluster into a Redis 6.0 cluster under load, through a source failover
// and a classic slot migration: the target cluster equals the source.
func TestLegacyClusterToCluster(t *testing.T) {
	if os.Getenv("REDFERRY_CLUSTER_MATRIX") == "" {
		t.Skip("REDFERRY_CLUSTER_MATRIX=1 runs it (make cluster-matrix)")
	}
	src := redistest.StartClusterWithReplicas(t, redistest.Redis60, 3, 1, fast)
	dst := redistest.StartCluster(t, redistest.Redis60, 3, redistest.Options{})
	fillCluster(t, src, 900)
	before := fullSyncs(t, src)
	r := startSV(t, clusterConfig(src, dst.Masters[0], t.TempDir()))
	ld := startLoad(t, src, 2)
	r.waitStreaming(t, 3)
	src.Failover(t, 1)
	slot := src.SlotOf(t, "cnt:{5}")
	from := src.Owner(t, slot)
	src.MigrateSlots(t, from, (from+1)%3, slot)
	writes := ld.end()
	r.waitCaughtUp(t, src)
	rep := assertEqual(t, src, dst, r)
	if got := fullSyncs(t, src) - before; got != 3 {
		t.Errorf("the masters served %d full syncs to redferry, want 3 (one per shard)", got)
	}
	t.Logf("%d writes during the sync, %d keys equal", writes, rep.KeysChecked)
}
