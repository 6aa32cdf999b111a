package clustersource

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/redferry/redferry/internal/redistest"
)

// TestFailoverWhileStopped: while redferry is stopped, a shard's machines
// are replaced: its replica removed, a new one added (never listed in
// shards.json), the shard failed over to it and its old master removed.
// At the next start no link runs and no node of the record is in the
// shard: the new master is still recognised as the shard by the
// replication history it continues (the replid its spool records, its
// master_replid2). The shard keeps its name, its link continues with PSYNC
// (the new master serves no full sync to redferry), and the target equals
// the source. When the old master took writes between redferry's stop and
// the new replica's sync, the new master's backlog (which starts at its
// own sync) lacks redferry's next byte: the shard still keeps its name and
// no name is left waiting, and it takes the full sync that needs
// (on-full-resync = flush: its slots' keys removed, its snapshot again).
func TestFailoverWhileStopped(t *testing.T) {
	for _, v := range versionsWithoutShardIDs(redistest.Redis60, redistest.Redis70) {
		t.Run(v, func(t *testing.T) { failoverWhileStopped(t, v, false) })
	}
	for _, v := range versionsWithoutShardIDs(redistest.Redis70) {
		t.Run(v+" with writes before the replica joined", func(t *testing.T) { failoverWhileStopped(t, v, true) })
	}
}

// failoverWhileStopped: with gap, the old master takes writes after
// redferry's stop, before the new replica's sync.
func failoverWhileStopped(t *testing.T, v string, gap bool) {
	const shard = 1 // not the seed's (Masters[0])
	src := redistest.StartClusterWithReplicas(t, v, 3, 1, fast)
	dst := redistest.Start(t, v, redistest.Options{})
	fillCluster(t, src, 600)
	names := shardNames(t, src)
	stateDir := t.TempDir()
	r := startSV(t, clusterConfig(src, dst, stateDir))
	ld := startLoad(t, src, 2)
	r.waitStreaming(t, 3)
	time.Sleep(300 * time.Millisecond)
	writes := ld.end()
	r.waitCaughtUp(t, src)

	// A replica holds in its backlog only what came after its own sync: for
	// the new master to continue redferry's stream, nothing may enter the
	// old master's stream between redferry's stop and that sync (no write,
	// no PING to its replicas).
	old, oldReplica := src.Masters[shard], src.Replicas[shard][0]
	oc := old.Client()
	err := oc.ConfigSet(t.Context(), "repl-ping-replica-period", "3600").Err()
	oc.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	stoppedAt := old.InfoField(t, "replication", "master_repl_offset")

	if gap {
		ld = startLoad(t, src, 2)
		time.Sleep(300 * time.Millisecond)
		writes += ld.end()
	}
	src.RemoveReplica(t, shard, oldReplica)
	added := src.AddReplica(t, shard)
	addedID := redistest.NodeID(t, added)
	if moved := old.InfoField(t, "replication", "master_repl_offset") != stoppedAt; moved != gap {
		t.Fatalf("the old master's stream moved while redferry was stopped: %v, want %v", moved, gap)
	}
	if name := recordedShardOf(t, stateDir, addedID); name != "" {
		t.Fatalf("shards.json lists the new replica under shard %s: it must be new to the record", name)
	}
	src.Failover(t, shard) // to added, the only replica
	src.RemoveReplica(t, shard, old)
	if src.Masters[shard] != added {
		t.Fatalf("shard %d's master is %s, want the added replica %s", shard, src.Masters[shard].Addr, added.Addr)
	}
	ld = startLoad(t, src, 2)
	time.Sleep(300 * time.Millisecond)
	fullBefore, partialBefore := syncCounts(t, added)

	r = startSV(t, clusterConfig(src, dst, stateDir))
	r.waitStreaming(t, 3)
	writes += ld.end()
	r.waitCaughtUp(t, src)
	rep := assertEqual(t, src, dst)

	masters := r.sv.Masters()
	if got := slices.Sorted(maps.Keys(masters)); !slices.Equal(got, slices.Sorted(slices.Values(names))) {
		t.Errorf("shards %v after the restart, want %v (the new master keeps its shard's name)", got, names)
	}
	if masters[names[shard]] != added.Addr {
		t.Errorf("shard %s follows %q, want its new master %s", names[shard], masters[names[shard]], added.Addr)
	}
	if got := recordedShardOf(t, stateDir, addedID); got != names[shard] {
		t.Errorf("shards.json lists the new master under %q, want %s", got, names[shard])
	}
	fullAfter, partialAfter := syncCounts(t, added)
	switch {
	case gap && fullAfter != fullBefore+1:
		// Its backlog lacks redferry's next byte: the shard's keys are
		// removed and the snapshot it offered in answer to PSYNC is taken.
		t.Errorf("the new master served %d full syncs after redferry's restart, want 1 (the one it offered)", fullAfter-fullBefore)
	case !gap && fullAfter != fullBefore:
		t.Errorf("the new master served %d full syncs after redferry's restart, want none (its link continues with PSYNC)", fullAfter-fullBefore)
	case !gap && partialAfter <= partialBefore:
		t.Errorf("the new master accepted no PSYNC after redferry's restart (sync_partial_ok %d, then %d)", partialBefore, partialAfter)
	}
	t.Logf("new master %s: sync_full %d → %d, sync_partial_ok %d → %d; %d writes, %d keys compared",
		added.Addr, fullBefore, fullAfter, partialBefore, partialAfter, writes, rep.KeysChecked)
}

// syncCounts are the full and the partial syncs s has served (INFO stats).
func syncCounts(t *testing.T, s *redistest.Server) (full, partial int) {
	t.Helper()
	full, _ = strconv.Atoi(s.InfoField(t, "stats", "sync_full"))
	partial, _ = strconv.Atoi(s.InfoField(t, "stats", "sync_partial_ok"))
	return full, partial
}

// recordedShardOf returns the shard that <stateDir>/shards.json lists node
// under, "" for none.
func recordedShardOf(t *testing.T, stateDir, node string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(stateDir, "shards.json"))
	if err != nil {
		t.Fatalf("shards.json: %v", err)
	}
	var rec struct {
		Shards map[string][]string `json:"shards"`
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatalf("shards.json: %v", err)
	}
	for name, ids := range rec.Shards {
		if slices.Contains(ids, node) {
			return name
		}
	}
	return ""
}
