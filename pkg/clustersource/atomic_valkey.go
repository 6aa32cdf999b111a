package clustersource

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/retry"
	"github.com/redferry/redferry/pkg/syncer"
)

// Valkey 9 atomic slot migrations (see atomic_migration.go).

func (a *atomicMigrations) valkeyEstablish(shard string, args [][]byte, db int, offset int64) syncer.Admission {
	job, _ := option(args, 3, "name")
	source, _ := option(args, 3, "source")
	var ranges [][2]int
	if _, i := option(args, 3, "slotsrange"); i > 0 {
		for j := i; j+1 < len(args); j += 2 {
			from, err1 := strconv.Atoi(string(args[j]))
			to, err2 := strconv.Atoi(string(args[j+1]))
			if err1 != nil || err2 != nil {
				break
			}
			ranges = append(ranges, [2]int{from, to})
		}
	}
	a.mu.Lock()
	a.noteSlots(ranges)
	im := a.imports[shard][job]
	if a.established[shard] == nil {
		a.established[shard] = map[string]int64{}
	}
	a.established[shard][job] = offset - commandLen(args)
	a.mu.Unlock()
	if im != nil {
		// Decided (this admission again after Wait), or restored after a
		// restart. The slots come to this shard: its own writes to them
		// are applied again (atomic_cycle.go).
		var cmds [][]string
		if im.endsSkips != nil {
			cmds = a.endExportSkipsOf(shard, im.endsSkips)
		} else { // restored after a restart
			cmds = a.endExportSkips(shard, ranges, offset-commandLen(args))
		}
		if im.skip {
			cmds = append(cmds, []string{"HSET", importField(shard, job), encodeImport(im)})
		}
		if im.skipsExporter != "" {
			a.mu.Lock()
			x := a.exportSkips[im.skipsExporter][job]
			a.mu.Unlock()
			cmds = append(cmds, []string{"HSET", exportSkipField(im.skipsExporter, job), x.encode()})
		}
		if len(cmds) == 0 {
			return syncer.Admission{Skip: true}
		}
		return a.persistAll(db, cmds...)
	}
	return syncer.Admission{Wait: func(ctx context.Context) error {
		defer a.setWaiting(shard)()
		im := &asmImport{job: job, ranges: ranges, source: source}
		im.endsSkips = a.skipsEndedBy(ctx, shard, job, ranges)
		return a.decideValkey(ctx, shard, im)
	}}
}

// decideValkey waits until the job has ended; on success, until the
// exporter's trim of the slots is applied (see the top of the file).
func (a *atomicMigrations) decideValkey(ctx context.Context, shard string, im *asmImport) error {
	log := a.log.With(zap.String("shard", shard), zap.String("job", im.job), zap.String("slots", formatRanges(im.ranges)))
	log.Info("an atomic slot migration into this shard began: its stream waits until the migration ends")
	exporter := a.shardOf(im.source)
	start := time.Now()
	var state string
	for {
		s, err := a.hooks.jobState(ctx, shard, im.job)
		if (err != nil || s == "") && exporter != "" {
			s, err = a.hooks.jobState(ctx, exporter, im.job)
		}
		if err == nil && finalJobState(s) {
			state = s
			break
		}
		if time.Since(start) > 10*time.Minute && s == "" {
			return fmt.Errorf("atomic slot migration %s into shard %s (slots %s): neither master knows the job any more, so the sync "+
				"cannot tell whether it succeeded: stopping before the moved slots are applied twice or lost; sync afresh "+
				"(remove the checkpoints %s* from the target and start again with flush-target)",
				im.job, shard, formatRanges(im.ranges), strings.TrimSuffix(a.hash, "asm"))
		}
		if err := retry.Sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	if state != "success" {
		log.Info("the atomic slot migration did not succeed: the importer's writes to its slots are left out", zap.String("state", state))
		im.skip = true
		a.setImport(shard, im)
		return nil
	}
	if exporter != "" && a.hooks.beforeFresh != nil && a.hooks.beforeFresh(im.job, exporter) {
		return a.copyFromFresh(ctx, log, shard, exporter, im)
	}
	if exporter != "" {
		if _, linked := a.hooks.applied(exporter); linked {
			err := a.waitTrimmed(ctx, log, exporter, im)
			if errors.Is(err, errExporterWaits) {
				err = a.takeOverSlots(ctx, log, exporter, im)
			}
			if err != nil {
				return err
			}
		}
	}
	log.Info("the atomic slot migration succeeded and the exporter's trim is applied: applying the importer's copy of the slots")
	a.setImport(shard, im)
	return nil
}

// waitTrimmed waits until the exporter's link has applied the trim of the
// job's slots: the offset its master had once it held none of their keys,
// or, when the slots came back to it before that could be seen, the start
// of the import that brought them back (its trim is before: the exporter
// imports only into slots it holds nothing of).
func (a *atomicMigrations) waitTrimmed(ctx context.Context, log *zap.Logger, exporter string, im *asmImport) error {
	warned := time.Now()
	target := int64(-1)
	for {
		if target < 0 {
			if off, ok, err := a.hooks.drained(ctx, exporter, im.ranges); err == nil && ok {
				target = off
			}
		}
		got, linked := a.hooks.applied(exporter)
		if !linked || target >= 0 && got >= target {
			return nil
		}
		if later, err := a.hooks.later(ctx, exporter, im.job, im.ranges); err == nil {
			a.mu.Lock()
			for _, j := range later {
				if start, ok := a.established[exporter][j]; ok && got >= start {
					a.mu.Unlock()
					return nil
				}
			}
			a.mu.Unlock()
		}
		// Checked after the slots' return, which may be where the
		// exporter waits.
		if a.isWaiting(exporter) {
			return errExporterWaits
		}
		if time.Since(warned) > 30*time.Second {
			log.Warn("waiting until the exporting shard's link has applied the deletion of the moved slots' keys",
				zap.String("exporter", exporter), zap.Int64("applied", got), zap.Int64("want", target))
			warned = time.Now()
		}
		if err := retry.Sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
}

// commandLen is the length of args as a RESP array of bulk strings.
func commandLen(args [][]byte) int64 {
	n := int64(len(strconv.Itoa(len(args))) + 3)
	for _, a := range args {
		n += int64(len(strconv.Itoa(len(a))) + 5 + len(a))
	}
	return n
}

// overlaps: some slot is in both.
func overlaps(a, b [][2]int) bool {
	for _, x := range a {
		for _, y := range b {
			if x[0] <= y[1] && y[0] <= x[1] {
				return true
			}
		}
	}
	return false
}

func (a *atomicMigrations) valkeyFinish(shard string, args [][]byte, db int) syncer.Admission {
	job, _ := option(args, 3, "name")
	a.mu.Lock()
	im := a.imports[shard][job]
	if im == nil {
		a.mu.Unlock()
		return syncer.Admission{Skip: true}
	}
	delete(a.imports[shard], job)
	a.mu.Unlock()
	if im.skip {
		return a.persist(db, "HDEL", importField(shard, job))
	}
	return syncer.Admission{Skip: true}
}

// finalJobState: a Valkey job in this state has ended.
func finalJobState(s string) bool {
	switch s {
	case "success", "failed", "cancelled", "canceled":
		return true
	}
	return false
}
