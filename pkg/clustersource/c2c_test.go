package clustersource

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/checkpoint"
	"github.com/redferry/redferry/pkg/config"
	"github.com/redferry/redferry/pkg/status"
)

// clusterPairs returns the source → target server pairs of the cluster to
// cluster test: one in `make test`, more with REDFERRY_CLUSTER_MATRIX=1.
func clusterPairs() [][2]string {
	if os.Getenv("REDFERRY_CLUSTER_MATRIX") != "" {
		return [][2]string{
			{redistest.Redis70, redistest.Valkey91},
			{redistest.Valkey91, redistest.Redis70},
			{redistest.Redis80, redistest.Redis86},
			{redistest.Valkey81, redistest.Valkey91},
			{redistest.Redis86, redistest.Valkey81},
		}
	}
	return [][2]string{{redistest.Redis70, redistest.Valkey91}}
}

// TestClusterToCluster syncs a 3-master source cluster (one replica each)
// into a 4-master target cluster under a non-idempotent write load with
// multi-key commands and transactions (within a hash tag: a cluster source
// runs nothing across slots), through: a kill -9 of redferry while the
// shards replay their snapshots and one while they stream (just after a
// classic slot migration of the source, so the import records are read back
// from the target cluster), a failover of a source master, another classic
// migration of the source and one of the target. At the end the target
// equals the source, each source master served one full sync only, and the
// import records are gone from every target master once they expire.
func TestClusterToCluster(t *testing.T) {
	for _, pair := range clusterPairs() {
		t.Run(pair[0]+"_to_"+pair[1], func(t *testing.T) {
			began := time.Now()
			// A backlog that outlasts redferry's restarts under the load.
			src := redistest.StartClusterWithReplicas(t, pair[0], 3, 1, redistest.Options{
				Args: append(append([]string{}, fast.Args...), "repl-backlog-size", "64mb")})
			dst := redistest.StartClusterWithReplicas(t, pair[1], 4, 0, fast)
			fillCluster(t, src, 4000)
			before := fullSyncs(t, src)
			cfg := clusterConfig(src, dst.Masters[1], t.TempDir())
			cfg.Name = "c2c"
			ld := startLoad(t, src, 2)
			ld.addMultiKey(src, 1)

			// A kill -9 while the shards replay their snapshots (slowed, so
			// that it lasts): each shard has a mark in the target by then, so
			// none downloads its snapshot again.
			slow := cfg
			slow.MaxOpsPerSecond = 1500
			p := startRedferryProcess(t, slow)
			p.waitStatus(t, "every shard replaying its snapshot", func(r status.Report) (bool, string) {
				ok := len(r.Shards) == 3
				for _, s := range r.Shards {
					ok = ok && s.SnapshotApplied > 0 && (s.Phase == status.PhaseSnapshotReplay || s.Phase == status.PhaseStreaming)
				}
				return ok, shardPhases(r)
			})
			time.Sleep(100 * time.Millisecond)
			at := p.kill(t)
			replaying := 0
			for _, s := range at.Shards {
				if s.Phase == status.PhaseSnapshotReplay {
					replaying++
				}
			}
			if replaying == 0 {
				t.Fatalf("the kill aimed at the snapshot replay landed after it: %s", shardPhases(at))
			}
			t.Logf("killed while %d shards replayed their snapshots (%s)", replaying, shardPhases(at))

			// A kill -9 while streaming, just after a slot of the source moved
			// under load: the import records are in the target cluster only.
			p = startRedferryProcess(t, cfg)
			p.waitStatus(t, "every shard streaming", func(r status.Report) (bool, string) {
				ok := len(r.Shards) == 3
				for _, s := range r.Shards {
					ok = ok && s.Phase == status.PhaseStreaming
				}
				return ok, shardPhases(r)
			})
			slot := src.SlotOf(t, "cnt:{5}")
			from := src.Owner(t, slot)
			src.MigrateSlots(t, from, (from+1)%3, slot)
			p.waitApplied(t, src)
			p.kill(t)
			recorded := assertRecordsInTheirSlots(t, dst, cfg)

			// The records are read back from every target master; they
			// expire a few seconds after the restart.
			r := startSVGrace(t, cfg, 3*time.Second)
			r.waitStreaming(t, 3)
			r.sv.migr.mu.Lock()
			loaded := len(r.sv.migr.imports)
			r.sv.migr.mu.Unlock()
			if loaded != recorded {
				t.Errorf("the restarted sync knows %d moved keys, want the %d recorded in the target", loaded, recorded)
			}
			src.Failover(t, 1)
			slot = src.SlotOf(t, "{m2}")
			from = src.Owner(t, slot)
			src.MigrateSlots(t, from, (from+2)%3, slot)
			for _, key := range []string{"hash:{3}", "{m5}", "list:{9}"} {
				slot := dst.SlotOf(t, key)
				from := dst.Owner(t, slot)
				dst.MigrateSlots(t, from, (from+1)%4, slot)
			}
			writes := ld.end()
			r.waitCaughtUp(t, src)
			keys := assertEqual(t, src, dst).KeysChecked
			if got := fullSyncs(t, src) - before; got != 3 {
				t.Errorf("the source masters served %d full syncs, want 3 (one per shard, none after the kills)", got)
			}
			r.waitImportsExpired(t)
			waitUntil(t, 30*time.Second, "the import records gone from the target", func() (bool, string) {
				n := recordHashes(t, dst, cfg)
				return n == 0, fmt.Sprintf("%d record hashes left", n)
			})
			t.Logf("%s → %s: %d writes under load, %d keys equal, %d full syncs, %d key imports read back after the kill, "+
				"%d commands of moved keys left out since, %s", pair[0], pair[1], writes, keys, fullSyncs(t, src)-before, loaded,
				r.sv.migr.skippedTotal(), time.Since(began).Round(time.Second))
		})
	}
}

// assertRecordsInTheirSlots checks that every import record on the target
// is in the hash of its key's slot, on the master serving that slot, and
// returns how many there are (at least one).
func assertRecordsInTheirSlots(t *testing.T, dst *redistest.Cluster, cfg config.Config) int {
	t.Helper()
	ctx := context.Background()
	n := 0
	for _, m := range dst.Masters {
		c := m.Client()
		keys, err := c.Keys(ctx, importsPattern(checkpoint.KeyPrefix+cfg.Name)).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range keys {
			fields, err := c.HKeys(ctx, h).Result()
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range fields {
				k, ok := parseField(f)
				if !ok || dst.SlotOf(t, k.key) != dst.SlotOf(t, h) {
					t.Errorf("the record %q is in %s, not in its key's slot", f, h)
				}
				n++
			}
		}
		c.Close()
	}
	if n == 0 {
		t.Fatal("no import recorded in the target after a slot of the source moved under load")
	}
	return n
}

// recordHashes counts the import record hashes on every master of dst.
func recordHashes(t *testing.T, dst *redistest.Cluster, cfg config.Config) int {
	t.Helper()
	n := 0
	for _, m := range dst.Masters {
		c := m.Client()
		keys, err := c.Keys(context.Background(), importsPattern(checkpoint.KeyPrefix+cfg.Name)).Result()
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		n += len(keys)
	}
	return n
}

func shardPhases(r status.Report) string {
	var parts []string
	for name, s := range r.Shards {
		parts = append(parts, name+":"+string(s.Phase)+"/"+strconv.FormatInt(s.SnapshotApplied, 10))
	}
	return strings.Join(parts, " ")
}

// addMultiKey adds workers writing multi-key commands and transactions
// within a hash tag ({mN}): MSET, LMOVE, SMOVE, RENAME, SUNIONSTORE, DEL of
// several keys, MULTI with INCR and RPUSH. Replayed twice or with one left
// out, the lists, sets and counters show it.
func (l *load) addMultiKey(src *redistest.Cluster, workers int) {
	l.add(src, workers, multiKeyWrite)
}

// multiKeyWrite counts a command that found its key gone (a list or set
// emptied, a key renamed or deleted) as written.
func multiKeyWrite(ctx context.Context, c *redis.ClusterClient, w, i int) error {
	tag := fmt.Sprintf("{m%d}", (i*5+w)%16)
	var err error
	switch i % 8 {
	case 0:
		err = c.MSet(ctx, tag+"a", i, tag+"b", i).Err()
	case 1:
		_, err = c.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Incr(ctx, tag+"n")
			p.RPush(ctx, tag+"l", i)
			return nil
		})
	case 2:
		err = c.LMove(ctx, tag+"l", tag+"l2", "RIGHT", "LEFT").Err()
	case 3:
		if err = c.SAdd(ctx, tag+"s", i%20).Err(); err == nil {
			err = c.SMove(ctx, tag+"s", tag+"s2", strconv.Itoa((i/8)%20)).Err()
		}
	case 4:
		err = c.Append(ctx, tag+"a", "x").Err()
	case 5:
		err = c.Rename(ctx, tag+"a", tag+"r").Err()
	case 6:
		err = c.SUnionStore(ctx, tag+"u", tag+"s", tag+"s2").Err()
	case 7:
		if i%24 == 7 {
			err = c.Del(ctx, tag+"r", tag+"b", tag+"u").Err()
		} else {
			err = c.RPopLPush(ctx, tag+"l2", tag+"l").Err()
		}
	}
	if err != nil && (errors.Is(err, redis.Nil) || strings.Contains(err.Error(), "no such key")) {
		return nil
	}
	return err
}
