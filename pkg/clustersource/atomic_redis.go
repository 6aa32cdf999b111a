package clustersource

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/retry"
	"github.com/redferry/redferry/pkg/syncer"
)

// Redis 8.4+ atomic slot migrations (see atomic_migration.go).

// redisTask follows CLUSTER SYNCSLOTS CONF ASM-TASK
// <task>:<source id>:<dest id>:<import|migrate>:<state>:<ranges>.
func (a *atomicMigrations) redisTask(shard, desc string, db int, offset int64) (syncer.Admission, error) {
	parts := strings.Split(desc, ":")
	if len(parts) < 6 {
		return syncer.Admission{}, fmt.Errorf("CLUSTER SYNCSLOTS CONF ASM-TASK %q: not the form <task>:<source>:<dest>:<operation>:<state>:<slots> "+
			"this redferry knows: stopping before the moving slots are applied twice or lost; report it with the server's version", desc)
	}
	task, source, dest, op, state := parts[0], parts[1], parts[2], parts[3], parts[4]
	ranges := parseRanges(strings.Join(parts[5:], ":"))
	a.mu.Lock()
	a.noteSlots(ranges)
	a.mu.Unlock()
	switch op {
	case "migrate":
		if state != "completed" {
			return syncer.Admission{Skip: true}, nil
		}
		a.mu.Lock()
		importer := a.nodes[dest]
		a.mu.Unlock()
		if importer != "" && a.hooks.followed != nil && !a.hooks.followed(importer) {
			// The slots left what this sync follows (--shards): the
			// TRIMSLOTS that follows is applied (their keys leave the
			// target), and no link waits for a mark, which would stay in
			// the target for ever.
			return syncer.Admission{Skip: true}, nil
		}
		// The TRIMSLOTS that follows is this migration's (left out: the
		// importer's stream has the slots now).
		cmds := [][]string{a.expectTrim(shard, task, ranges)}
		m := asmMark{shard: shard, offset: offset, importer: importer}
		a.mu.Lock()
		a.marks[task] = m
		a.mu.Unlock()
		return a.persistAll(db, append(cmds, []string{"HSET", "mark:" + task, encodeMark(m)})...), nil
	case "import":
	default:
		return syncer.Admission{Skip: true}, nil
	}
	a.mu.Lock()
	im := a.imports[shard][task]
	if state == "connecting" {
		a.connecting[shard] = true
	}
	switch state {
	case "completed":
		if im == nil {
			delete(a.cleared, task)
			a.mu.Unlock()
			return syncer.Admission{Skip: true}, nil
		}
		if exp := a.nodes[source]; !im.waited && a.hooks.beforeFresh != nil && a.hooks.beforeFresh(task, exp) {
			a.mu.Unlock()
			return syncer.Admission{}, errFreshExporter(shard, exp, task, im.ranges)
		}
		if !im.waited {
			a.mu.Unlock()
			return syncer.Admission{Wait: func(ctx context.Context) error {
				defer a.setWaiting(shard)()
				if err := a.waitMark(ctx, shard, task, source); err != nil {
					return err
				}
				a.mu.Lock()
				im.waited = true
				a.mu.Unlock()
				return nil
			}}, nil
		}
		delete(a.imports[shard], task)
		delete(a.marks, task)
		a.mu.Unlock()
		a.log.Info("an atomic slot migration into this shard completed: its writes to the slots are applied from here on",
			zap.String("shard", shard), zap.String("task", task), zap.String("slots", formatRanges(im.ranges)))
		return a.persist(db, "HDEL", importField(shard, task), "mark:"+task), nil
	case "failed", "canceled", "cancelled":
		if im == nil {
			a.mu.Unlock()
			return syncer.Admission{Skip: true}, nil
		}
		delete(a.imports[shard], task)
		a.mu.Unlock()
		a.log.Info("an atomic slot migration into this shard did not complete", zap.String("shard", shard),
			zap.String("task", task), zap.String("state", state))
		// Its TRIMSLOTS drops the copy, which was left out.
		return a.persistAll(db, []string{"HDEL", importField(shard, task)}, a.expectTrim(shard, task, im.ranges)), nil
	}
	exporter := a.nodes[source]
	cleared, notFresh := a.cleared[task], a.notFresh[task]
	a.mu.Unlock()
	fresh := !notFresh && exporter != "" && a.hooks.beforeFresh != nil && a.hooks.beforeFresh(task, exporter)
	if im != nil {
		if fresh {
			return syncer.Admission{}, errFreshExporter(shard, exporter, task, ranges)
		}
		return syncer.Admission{Skip: true}, nil
	}
	if cleared {
		// The slots were emptied: the importer's copy rebuilds them.
		return syncer.Admission{Skip: true}, nil
	}
	if fresh {
		if adm, ok, err := a.redisFromFresh(shard, exporter, task, ranges); ok || err != nil {
			return adm, err
		}
	}
	if _, followed := a.hooks.applied(exporter); !followed {
		// This sync does not follow the exporter: the importer's copy is
		// all the target gets of the slots.
		return syncer.Admission{Skip: true}, nil
	}
	im = &asmImport{job: task, ranges: ranges, source: source, skip: true}
	a.setImport(shard, im)
	a.log.Info("an atomic slot migration into this shard began: its writes to the slots are left out until it completes "+
		"(the exporter's stream has them)", zap.String("shard", shard), zap.String("task", task), zap.String("slots", formatRanges(ranges)))
	return a.persist(db, "HSET", importField(shard, task), encodeImport(im)), nil
}

// waitMark waits until the exporter's link has applied its completed mark
// of task (at once when no link follows the exporter).
func (a *atomicMigrations) waitMark(ctx context.Context, shard, task, source string) error {
	log := a.log.With(zap.String("shard", shard), zap.String("task", task))
	warned := time.Now()
	for {
		a.mu.Lock()
		mark, ok := a.marks[task]
		exporter := a.nodes[source]
		a.mu.Unlock()
		if ok {
			return a.waitApplied(ctx, log, mark.shard, mark.offset)
		}
		if exporter == "" {
			return nil
		}
		if _, linked := a.hooks.applied(exporter); !linked {
			return nil
		}
		if time.Since(warned) > 30*time.Second {
			log.Warn("the importing shard waits until the exporting shard's stream reaches the end of the migration", zap.String("exporter", exporter))
			warned = time.Now()
		}
		if err := retry.Sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
}
