package clustersource

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/redferry/redferry/internal/redistest"
)

// TestFailoverRightAfterStart: a master of a cluster just formed fails over
// as soon as the links have started, before the supervisor has seen its
// replica in its shard (the first topology reads of a young cluster may
// show the replicas as masters of their own, gossip not having spread
// their role yet), on servers without shard ids. The promoted replica must
// still be the same shard: its link continues with PSYNC under the shard's
// name (no fourth full sync, no late shard), and the target equals the
// source. `make test` runs Redis 7.0, REDFERRY_CLUSTER_MATRIX=1 the others.
func TestFailoverRightAfterStart(t *testing.T) {
	for _, v := range versions(redistest.Redis70) {
		t.Run(v, func(t *testing.T) { failoverRightAfterStart(t, v) })
	}
}

func failoverRightAfterStart(t *testing.T, v string) {
	src := redistest.StartClusterWithReplicas(t, v, 3, 1, fast)
	dst := redistest.Start(t, v, redistest.Options{})
	var want []string // the shard names: the masters' node ids (no shard ids before 7.2)
	for _, m := range src.Masters {
		want = append(want, redistest.NodeID(t, m))
	}
	before := fullSyncs(t, src)

	// No wait after the cluster formed: the first topology reads may not
	// show the replicas in their shards yet.
	ld := startLoad(src, 2)
	r := startSV(t, clusterConfig(src, dst, t.TempDir()))
	waitUntil(t, 30*time.Second, "the links to start", func() (bool, string) {
		if err := r.failed(); err != nil {
			t.Fatalf("the sync stopped: %v", err)
		}
		n := len(r.sv.Tracker().Shards())
		return n == 3, fmt.Sprintf("%d links of 3", n)
	})
	src.Failover(t, 1)
	r.waitStreaming(t, 3)
	writes := ld.end()
	r.waitCaughtUp(t, src)
	rep := assertEqual(t, src, dst)

	got := slices.Sorted(maps.Keys(r.sv.Masters()))
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("shards %v after the failover, want %v (the promoted replica keeps its shard's name)", got, want)
	}
	if n := fullSyncs(t, src) - before; n != 3 {
		t.Errorf("the masters served %d full syncs to redferry, want 3 (one per shard)", n)
		for _, s := range src.Nodes() {
			t.Logf("DBG node %s role %s sync_full %s partial_ok %s partial_err %s", s.Addr, s.InfoField(t, "replication", "role"),
				s.InfoField(t, "stats", "sync_full"), s.InfoField(t, "stats", "sync_partial_ok"), s.InfoField(t, "stats", "sync_partial_err"))
		}
	}
	t.Logf("%d writes during the sync, %d keys compared", writes, rep.KeysChecked)
}
