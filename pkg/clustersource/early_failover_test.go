package clustersource

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redferry/redferry/internal/redistest"
)

// Failovers that the node ids of shards.json cannot follow (lineage.go), on
// servers without shard ids. `make test` runs Redis 7.0,
// REDFERRY_CLUSTER_MATRIX=1 the others.

// TestFailoverRightAfterStart: a master of a cluster just formed fails over
// as soon as the links have started, before the supervisor has seen its
// replica in its shard (the first topology reads of a young cluster may
// show the replicas as masters of their own, gossip not having spread
// their role yet). The promoted replica is still the same shard: its link
// continues with PSYNC under the shard's name (no fourth full sync, no late
// shard), and the target equals the source.
func TestFailoverRightAfterStart(t *testing.T) {
	for _, v := range versionsWithoutShardIDs(redistest.Redis70) {
		t.Run(v, func(t *testing.T) { failoverRightAfterStart(t, v) })
	}
}

func failoverRightAfterStart(t *testing.T, v string) {
	var yc youngCluster
	for attempt := 1; ; attempt++ {
		yc = startYoungCluster(t, v)
		if yc.unlisted || attempt == 3 {
			break
		}
		yc.r.stop() // every replica listed already: a younger cluster
		yc.ld.end()
	}
	src := yc.src
	src.Takeover(t, yc.shard)
	yc.r.waitStreaming(t, 3)
	writes := yc.ld.end()
	yc.r.waitCaughtUp(t, src)
	rep := assertEqual(t, src, yc.dst)

	if got := slices.Sorted(maps.Keys(yc.r.sv.Masters())); !slices.Equal(got, slices.Sorted(slices.Values(yc.names))) {
		t.Errorf("shards %v after the failover, want %v (the promoted replica keeps its shard's name)", got, yc.names)
	}
	if n := fullSyncs(t, src) - yc.before; n != 3 {
		t.Errorf("the masters served %d full syncs, want 3 (one per shard to redferry)", n)
		for _, s := range src.Nodes() {
			t.Logf("%s: role %s, sync_full %s, sync_partial_ok %s", s.Addr, s.InfoField(t, "replication", "role"),
				s.InfoField(t, "stats", "sync_full"), s.InfoField(t, "stats", "sync_partial_ok"))
		}
	}
	t.Logf("takeover of shard %d, its replica unlisted when it began: %v; %d writes during the sync, %d keys compared",
		yc.shard, yc.unlisted, writes, rep.KeysChecked)
}

// youngCluster: a sync started on a cluster just formed, under load, and
// the shard to take over.
type youngCluster struct {
	src      *redistest.Cluster
	dst      *redistest.Server
	r        *runningSV
	ld       *load
	names    []string
	before   int // full syncs before the sync
	shard    int
	unlisted bool // its replica was listed neither by the record nor by the seed
}

func startYoungCluster(t *testing.T, v string) youngCluster {
	yc := youngCluster{src: redistest.StartClusterWithReplicas(t, v, 3, 2, fast), dst: redistest.Start(t, v, redistest.Options{})}
	src := yc.src
	yc.names = shardNames(t, src)
	yc.before = fullSyncs(t, src)
	// No wait after the cluster formed: the first topology reads may not
	// list the replicas in their shards yet.
	yc.ld = startLoad(t, src, 2)
	stateDir := t.TempDir()
	yc.r = startSV(t, clusterConfig(src, yc.dst, stateDir))
	waitQuickly(t, "the links to start", func() bool { return len(yc.r.sv.Tracker().Shards()) == 3 })
	// Take over a shard with a replica that neither the record nor the seed
	// node (Masters[0]) lists yet, if any (two replicas a shard: more
	// chances): a takeover needs no votes, so it is done before gossip has
	// spread the replica's role. Not the seed's own shard: its old master
	// would show itself at once as a replica of the new one.
	yc.shard = 1
	for i := 1; i < len(src.Masters); i++ {
		for j, rep := range src.Replicas[i] {
			id := redistest.NodeID(t, rep)
			if !yc.unlisted && !recordLists(t, stateDir, yc.names[i], id) && !listsReplica(t, src.Masters[0], id) {
				yc.shard, yc.unlisted = i, true
				src.Replicas[i][0], src.Replicas[i][j] = rep, src.Replicas[i][0]
			}
		}
	}
	// A failover during the shard's download would cost it a new full sync
	// (not what this test is about): the takeover follows the download, as
	// soon as the stream after it arrives.
	waitQuickly(t, "the shard's stream", func() bool {
		tr := yc.r.sv.Tracker().Shards()[yc.names[yc.shard]]
		return tr != nil && tr.Received() > 0
	})
	return yc
}

// waitQuickly polls cond every few milliseconds (for 30 s at most): what
// follows must happen before gossip spreads.
func waitQuickly(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: not after 30 s", what)
		}
	}
}

// TestFailoverToMovedReplica: a replica moved from one master to another
// (CLUSTER REPLICATE, as an operator or the cluster's replica migration
// does) and promoted there is the shard of its new master, not of the one
// the record first listed it in: both shards keep their names and links,
// no full sync follows, and the target equals the source.
func TestFailoverToMovedReplica(t *testing.T) {
	for _, v := range versionsWithoutShardIDs(redistest.Redis70) {
		t.Run(v, func(t *testing.T) { failoverToMovedReplica(t, v) })
	}
}

func failoverToMovedReplica(t *testing.T, v string) {
	src := redistest.StartClusterWithReplicas(t, v, 3, 1, fast)
	dst := redistest.Start(t, v, redistest.Options{})
	fillCluster(t, src, 600)
	want := shardNames(t, src)
	stateDir := t.TempDir()
	r := startSV(t, clusterConfig(src, dst, stateDir))
	ld := startLoad(t, src, 2)
	r.waitStreaming(t, 3)
	moved := src.Replicas[2][0]
	movedID := redistest.NodeID(t, moved)
	waitUntil(t, 30*time.Second, "the record to list the replica of shard 2", func() (bool, string) {
		return recordLists(t, stateDir, want[2], movedID), "not listed"
	})

	// Shard 2's replica now replicates shard 1's master, then takes it over.
	c := moved.Client()
	err := c.Do(t.Context(), "CLUSTER", "REPLICATE", redistest.NodeID(t, src.Masters[1])).Err()
	c.Close()
	if err != nil {
		t.Fatal(err)
	}
	src.Replicas[1] = append([]*redistest.Server{moved}, src.Replicas[1]...)
	src.Replicas[2] = nil
	src.WaitHealthy(t)
	before := fullSyncs(t, src)
	src.Failover(t, 1)

	writes := ld.end()
	r.waitCaughtUp(t, src)
	rep := assertEqual(t, src, dst)
	if got := slices.Sorted(maps.Keys(r.sv.Masters())); !slices.Equal(got, slices.Sorted(slices.Values(want))) {
		t.Errorf("shards %v after the failover, want %v", got, want)
	}
	if n := fullSyncs(t, src) - before; n != 0 {
		t.Errorf("the masters served %d full syncs after the replica moved, want none", n)
	}
	if recordLists(t, stateDir, want[2], movedID) || !recordLists(t, stateDir, want[1], movedID) {
		t.Errorf("the record does not list the moved replica under shard 1 only")
	}
	t.Logf("%d writes during the sync, %d keys compared", writes, rep.KeysChecked)
}

// shardNames are the names of the shards of src by master index: the
// masters' node ids (no shard ids before 7.2).
func shardNames(t *testing.T, src *redistest.Cluster) []string {
	var out []string
	for _, m := range src.Masters {
		out = append(out, redistest.NodeID(t, m))
	}
	return out
}

// listsReplica says whether the CLUSTER NODES of s shows node as a replica.
func listsReplica(t *testing.T, s *redistest.Server, node string) bool {
	t.Helper()
	c := s.Client()
	defer c.Close()
	text, err := c.ClusterNodes(t.Context()).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(text, "\n") {
		if f := strings.Fields(line); len(f) > 3 && f[0] == node {
			return strings.Contains(f[2], "slave")
		}
	}
	return false
}

// recordLists says whether <stateDir>/shards.json lists node under shard.
func recordLists(t *testing.T, stateDir, shard, node string) bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(stateDir, "shards.json"))
	if err != nil {
		return false
	}
	var rec struct {
		Shards map[string][]string `json:"shards"`
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatalf("shards.json: %v", err)
	}
	return slices.Contains(rec.Shards[shard], node)
}
