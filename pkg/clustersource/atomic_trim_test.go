package clustersource

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/checkpoint"
	"github.com/redferry/redferry/pkg/verify"
)

// TestAtomicMigrationOneSideFollowed follows one master of two (--shards)
// while a Redis atomic migration moves a slot a load writes between them:
// into the followed master and cancelled (its copy was applied, so the
// failure's TRIMSLOTS must delete it), out of it (the export's TRIMSLOTS
// must delete the slot's keys), and into it completed. The target ends
// equal to the followed master, and the migrations' record holds no mark.
func TestAtomicMigrationOneSideFollowed(t *testing.T) {
	if !slices.Contains(atomicVersions(), redistest.Redis86) {
		t.Skip("TRIMSLOTS is Redis 8.4+'s: set REDFERRY_CLUSTER_MATRIX=1")
	}
	for _, tc := range []struct {
		name     string
		importer bool // the followed master imports
		cancel   bool
	}{
		{"importer-cancelled", true, true},
		{"exporter-completed", false, false},
		{"importer-completed", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			src := redistest.StartClusterWithReplicas(t, redistest.Redis86, 2, 0, fast)
			dst := redistest.Start(t, redistest.Valkey91, redistest.Options{})
			fillSlots(t, src, 60000, 5)
			slot := src.SlotOf(t, "cnt:{5}")
			from := src.Owner(t, slot)
			to := 1 - from
			followed := from
			if tc.importer {
				followed = to
			}
			cfg := clusterConfig(src, dst, t.TempDir())
			cfg.Shards = []string{redistest.NodeID(t, src.Masters[followed])}
			r := startSV(t, cfg)
			ld := startLoad(t, src, 2)
			r.waitStreaming(t, 1)
			imp := src.Masters[to].Client()
			defer imp.Close()
			before := replOffset(imp)
			if err := imp.Do(ctx, "CLUSTER", "MIGRATION", "IMPORT", slot, slot).Err(); err != nil {
				t.Fatal(err)
			}
			if tc.cancel {
				waitCopying(imp, before)
				if err := imp.Do(ctx, "CLUSTER", "MIGRATION", "CANCEL", "ALL").Err(); err != nil {
					t.Fatal(err)
				}
			}
			waitUntil(t, 60*time.Second, "the migration to end", func() (bool, string) {
				return !r.sv.atomicMigrating(ctx, Topology{Shards: []Shard{{MasterAddr: src.Masters[0].Addr},
					{MasterAddr: src.Masters[1].Addr}}}), "running"
			})
			moved := src.Owner(t, slot) == to
			if moved == tc.cancel {
				t.Fatalf("slot %d at master %d after the migration (cancel %v)", slot, src.Owner(t, slot), tc.cancel)
			}
			time.Sleep(300 * time.Millisecond)
			writes := ld.end()
			waitShardCaughtUp(t, r, src.Masters[followed])
			sc, dc := src.Masters[followed].Client(), dst.Client()
			defer sc.Close()
			defer dc.Close()
			rep, err := verify.Compare(ctx, sc, dc, verify.Options{
				IgnoreKeys: func(_ int, k string) bool { return strings.HasPrefix(k, checkpoint.KeyPrefix) }})
			if err != nil {
				t.Fatal(err)
			}
			if !rep.Equal() {
				t.Fatalf("the target differs from the followed master: %d diffs, e.g. %v", rep.DiffCount, rep.Diffs[:min(10, len(rep.Diffs))])
			}
			recs, err := dc.HGetAll(ctx, asmKey(r.sv.opt.Sync.CheckpointKey)).Result()
			if err != nil {
				t.Fatal(err)
			}
			for f := range recs {
				if strings.HasPrefix(f, "mark:") || strings.HasPrefix(f, "imp:") {
					t.Errorf("the migrations' record keeps %s = %s", f, recs[f])
				}
			}
			t.Logf("%d writes, slot %d moved %v, %d keys compared, record %v", writes, slot, moved, rep.KeysChecked, recs)
		})
	}
}

// waitShardCaughtUp waits until the link following m has applied m's
// master_repl_offset.
func waitShardCaughtUp(t *testing.T, r *runningSV, m *redistest.Server) {
	t.Helper()
	waitUntil(t, 90*time.Second, "the followed shard caught up", func() (bool, string) {
		if err := r.failed(); err != nil {
			t.Fatalf("the sync stopped: %v", err)
		}
		want, _ := strconv.ParseInt(m.InfoField(t, "replication", "master_repl_offset"), 10, 64)
		shards := r.sv.Tracker().Shards()
		for name, addr := range r.sv.Masters() {
			if addr == m.Addr {
				got := shards[name].Applied()
				return got >= want, fmt.Sprintf("applied %d of %d", got, want)
			}
		}
		return false, "no link follows " + m.Addr
	})
}
