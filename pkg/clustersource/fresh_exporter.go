package clustersource

import (
	"context"
	"fmt"
	"strings"

	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/syncer"
)

// A shard synced afresh while the others resume (its checkpoint removed)
// takes its snapshot once no migration runs (waitNoMigration). A resumed
// importer's stream may still hold a migration from it that ended before:
// the fresh exporter's stream has nothing of that migration (no writes to
// the slots, no trim, no Redis completed mark), and its snapshot holds the
// slots only if the migration failed. So for such a migration — one the
// masters listed when the fresh links started (notePreFresh) — the importer
// does not wait for the exporter: on success, the target's keys of the
// slots (the exporter's from before its checkpoint was removed) are deleted
// with the other links' batches held and the importer's copy rebuilds them;
// on failure the copy is left out as usual and the fresh snapshot has them.
// A Redis import whose copy was already being left out when redferry
// stopped cannot be completed (the exporter's writes it stood for are
// gone): the sync stops.

// notePreFresh lists the atomic migrations the masters know, when some
// shard syncs afresh while others resume.
func (sv *Supervisor) notePreFresh(ctx context.Context, topo Topology) {
	sv.mu.Lock()
	someFresh := len(sv.fresh) > 0
	sv.mu.Unlock()
	if !someFresh {
		return
	}
	jobs := map[string]bool{}
	for _, list := range sv.migrationJobs(ctx, topo) {
		for _, m := range list {
			for _, k := range []string{"name", "id"} {
				if m[k] != "" {
					jobs[m[k]] = true
				}
			}
		}
	}
	sv.mu.Lock()
	sv.preFresh = jobs
	sv.mu.Unlock()
}

// asmBeforeFresh: job ended before exporter's fresh full sync.
func (sv *Supervisor) asmBeforeFresh(job, exporter string) bool {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	return sv.fresh[exporter] && sv.preFresh[job]
}

// asmTaskState returns the state of Redis task on shard's master ("" when
// it does not list it).
func (sv *Supervisor) asmTaskState(ctx context.Context, shard, task string) (string, error) {
	c, err := sv.masterClient(shard)
	if err != nil {
		return "", err
	}
	defer c.Close()
	v, err := c.Do(ctx, "CLUSTER", "MIGRATION", "STATUS", "ALL").Result()
	if err != nil {
		return "", fmt.Errorf("CLUSTER MIGRATION STATUS on shard %s: %w", shard, err)
	}
	list, _ := v.([]any)
	for _, j := range list {
		if m := fieldMap(j); m["id"] == task {
			return m["state"], nil
		}
	}
	return "", nil
}

// copyFromFresh: a Valkey job that succeeded before its exporter's fresh
// full sync (see the top of the file).
func (a *atomicMigrations) copyFromFresh(ctx context.Context, log *zap.Logger, shard, exporter string, im *asmImport) error {
	if a.hooks.clearSlots != nil {
		log.Info("the exporting shard was synced afresh after this migration: the target's keys of the slots are replaced by "+
			"the importer's copy", zap.String("exporter", exporter))
		if err := a.hooks.clearSlots(ctx, im.ranges, func() bool { return true }); err != nil {
			return err
		}
	}
	a.setImport(shard, im)
	return nil
}

// redisFromFresh decides a Redis import (at its first ASM-TASK mark) from
// a shard synced afresh after it: handled false leaves the usual course
// (a failed import: its copy is left out).
func (a *atomicMigrations) redisFromFresh(shard, exporter, task string, ranges [][2]int) (syncer.Admission, bool, error) {
	if a.hooks.taskState == nil || a.hooks.clearSlots == nil {
		return syncer.Admission{}, false, nil
	}
	return syncer.Admission{Wait: func(ctx context.Context) error {
		state, err := a.hooks.taskState(ctx, shard, task)
		if err != nil || state == "" {
			state, err = a.hooks.taskState(ctx, exporter, task)
		}
		if err != nil {
			return err
		}
		switch strings.ToLower(state) {
		case "completed":
			a.log.Info("the exporting shard was synced afresh after this migration: the target's keys of the slots are "+
				"replaced by the importer's copy", zap.String("shard", shard), zap.String("exporter", exporter),
				zap.String("task", task), zap.String("slots", formatRanges(ranges)))
			return a.hooks.clearSlots(ctx, ranges, func() bool {
				a.mu.Lock()
				a.cleared[task] = true
				a.mu.Unlock()
				return true
			})
		case "failed", "canceled", "cancelled":
			// The usual course: the copy is left out.
			a.mu.Lock()
			a.notFresh[task] = true
			a.mu.Unlock()
			return nil
		}
		return errFreshExporter(shard, exporter, task, ranges)
	}}, true, nil
}

func errFreshExporter(shard, exporter, task string, ranges [][2]int) error {
	return fmt.Errorf("atomic slot migration %s of slots %s from shard %s into shard %s: shard %s was synced afresh after it, so "+
		"its stream no longer holds the writes this sync counted on; stopping before the slots are left incomplete: "+
		"sync afresh (remove every checkpoint of this sync from the target and start again with flush-target)",
		task, formatRanges(ranges), exporter, shard, exporter)
}
