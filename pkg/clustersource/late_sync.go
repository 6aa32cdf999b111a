package clustersource

import (
	"context"
	"errors"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/retry"
)

// A shard's full sync after the others have begun streaming — a master
// added to the cluster, or a shard whose checkpoint was removed so that it
// syncs afresh while the others resume — meets atomic migrations two ways.
//
// Taken while its master imports, its snapshot would hold part of the
// slots (Valkey 9.1: the keys copied so far and an RDB_OPCODE_SLOT_IMPORT;
// Redis 8.6: the keys copied so far and the aux field cluster-asm-task
// <task>:…:import:<state>:<slots>), and its stream the rest of the job
// without its framing. Its link therefore starts only once its master runs
// no atomic migration, as the first full sync waits for every master
// (waitNoMigration); the snapshot then holds the moved slots whole.
//
// Applied, that snapshot must land after the exporters' streams have
// applied their writes to the slots from before the handoff and, on Valkey,
// the trim that follows it (otherwise the trim deletes the snapshot's keys
// of the slots). BeforeSnapshot waits for what the other links had received
// (waitOthersApplied) and then, for each Valkey job that brought slots to
// this master and still holds them, until the exporter's link has applied
// its trim (settleImports). A Redis exporter's trim is TRIMSLOTS, left out
// after the completed mark that precedes it.

// postponeLate reports whether a late shard's link must wait: its master
// runs an atomic slot migration.
func (sv *Supervisor) postponeLate(ctx context.Context, name string, s Shard) bool {
	if !sv.atomicMigrating(ctx, Topology{Shards: []Shard{s}}) {
		delete(sv.postponed, name)
		return false
	}
	if !sv.postponed[name] {
		sv.log.Info("the shard's master runs an atomic slot migration: its full sync waits until it ends, so that "+
			"its snapshot holds the moved slots whole", zap.String("shard", name), zap.String("master", s.MasterAddr))
		sv.postponed[name] = true
	}
	return true
}

// settleWait bounds settleImports' wait for an exporter that waits itself.
const settleWait = 2 * time.Minute

// settleImports waits until the exporters of the Valkey jobs that brought
// shard the slots it holds have applied their trims (see the top).
func (a *atomicMigrations) settleImports(ctx context.Context, shard string) error {
	if a.hooks.importsDone == nil {
		return nil
	}
	ims, err := a.hooks.importsDone(ctx, shard)
	if err != nil {
		a.log.Debug("cannot list the atomic migrations into the shard", zap.String("shard", shard), zap.Error(err))
		return nil
	}
	for _, im := range ims {
		exporter := a.shardOf(im.source)
		if exporter == "" || exporter == shard {
			continue
		}
		if _, linked := a.hooks.applied(exporter); !linked {
			continue
		}
		log := a.log.With(zap.String("shard", shard), zap.String("job", im.job), zap.String("slots", formatRanges(im.ranges)))
		start := time.Now()
		for {
			err := a.waitTrimmed(ctx, log, exporter, im)
			if !errors.Is(err, errExporterWaits) {
				if err != nil {
					return err
				}
				break
			}
			if time.Since(start) > settleWait {
				log.Warn("the exporting shard's stream waits in a migration of its own: the snapshot is applied without "+
					"waiting for its trim of the slots", zap.String("exporter", exporter))
				break
			}
			if err := retry.Sleep(ctx, 100*time.Millisecond); err != nil {
				return err
			}
		}
	}
	return nil
}

// asmImportsDone lists the Valkey jobs that brought shard's master slots it
// still serves (CLUSTER GETSLOTMIGRATIONS: operation IMPORT, state success).
func (sv *Supervisor) asmImportsDone(ctx context.Context, shard string) ([]*asmImport, error) {
	c, err := sv.masterClient(shard)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	v, err := c.Do(ctx, "CLUSTER", "GETSLOTMIGRATIONS").Result()
	if err != nil {
		return nil, err
	}
	sv.migr.mu.Lock()
	owners := sv.migr.owners
	sv.migr.mu.Unlock()
	jobs, _ := v.([]any)
	var out []*asmImport
	for _, j := range jobs {
		m := fieldMap(j)
		if !strings.EqualFold(m["operation"], "import") || m["state"] != "success" {
			continue
		}
		im := &asmImport{job: m["name"], ranges: parseRanges(m["slot_ranges"]), source: m["source_node"]}
		holds := len(im.ranges) > 0
		for _, r := range im.ranges {
			for slot := r[0]; slot <= r[1] && holds; slot++ {
				holds = owners[slot] == shard
			}
		}
		if holds {
			out = append(out, im)
		}
	}
	return out, nil
}
