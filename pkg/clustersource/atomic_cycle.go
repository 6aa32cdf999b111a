package clustersource

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"

	"go.uber.org/zap"
)

// Valkey jobs in opposite directions between two masters can run at once
// (Valkey 9.1 lets a master import and export together; Redis 8.6 cancels
// a master's running import when an export from it starts, so its tasks
// between two masters never overlap). Each importer's stream waits at its
// ESTABLISH until the other's link has applied its trim, which comes after
// the other's own ESTABLISH: both wait for ever.
//
// When the exporter's stream is itself held in a migration's wait, the
// importer takes the slots over instead of waiting. The job has succeeded,
// so the importer's copy (the exporter's keys of the slots as of the job's
// start, then every write it made to them until the handoff) is the slots'
// whole content at the handoff: the target's keys of the slots are deleted
// while no batch is in flight, and the exporter's writes to the slots are
// left out from its held position on — client writes from before the
// handoff (in the copy), then the trim. They are left out until the
// exporter's own stream shows a job bringing the slots back to it that is
// newer than the one taking them (its master's job log, newest first): the
// exporter may be held before the ESTABLISH of an older job that brought it
// these slots, whose copy is then left out too (the importer's copy holds
// all of it). The rule is kept in the target (xskip:<exporter>:<job> =
// <ranges>|<held offset>) with the importer's ESTABLISH; after a restart,
// when the job log is not asked, an ESTABLISH past the held offset ends it.

// errExporterWaits: the exporter's stream is held in a wait of its own.
var errExporterWaits = errors.New("the exporting shard's stream waits too")

// setWaiting marks shard's stream as held in a wait until the returned
// func runs.
func (a *atomicMigrations) setWaiting(shard string) func() {
	a.mu.Lock()
	a.waiting[shard]++
	a.mu.Unlock()
	return func() {
		a.mu.Lock()
		a.waiting[shard]--
		a.mu.Unlock()
	}
}

func (a *atomicMigrations) isWaiting(shard string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.waiting[shard] > 0
}

// takeOverSlots deletes the target's keys of im's slots and leaves out the
// exporter's writes to them from now on (see the top of the file).
func (a *atomicMigrations) takeOverSlots(ctx context.Context, log *zap.Logger, exporter string, im *asmImport) error {
	if a.hooks.clearSlots == nil {
		return errExporterWaits
	}
	log.Warn("the exporting shard's stream waits too (migrations in opposite directions): the target's keys of the slots "+
		"are replaced by the importer's copy, and the exporter's writes to them are left out", zap.String("exporter", exporter))
	return a.hooks.clearSlots(ctx, im.ranges, func() bool {
		// With every link's batches landed: an exporter already at (or
		// past) a later job bringing the slots back has applied its trim
		// (and maybe part of that job's copy, which must stay).
		held, _ := a.hooks.applied(exporter)
		later, err := a.hooks.later(ctx, exporter, im.job, im.ranges)
		a.mu.Lock()
		defer a.mu.Unlock()
		if err == nil {
			for _, j := range later {
				if start, ok := a.established[exporter][j]; ok && held >= start {
					return false
				}
			}
		}
		if a.exportSkips[exporter] == nil {
			a.exportSkips[exporter] = map[string]exportSkip{}
		}
		a.exportSkips[exporter][im.job] = exportSkip{ranges: im.ranges, held: held}
		im.skipsExporter = exporter
		return true
	})
}

// exportSkip: an exporter's writes to ranges are left out from its stream
// offset held on.
type exportSkip struct {
	ranges [][2]int
	held   int64
}

func (x exportSkip) encode() string {
	return formatRanges(x.ranges) + "|" + strconv.FormatInt(x.held, 10)
}

func decodeExportSkip(v string) exportSkip {
	r, held, _ := strings.Cut(v, "|")
	n, _ := strconv.ParseInt(held, 10, 64)
	return exportSkip{ranges: parseRanges(r), held: n}
}

// endExportSkips ends the rules leaving out shard's writes to slots of
// ranges (a job brings them back to it; its ESTABLISH starts at start),
// returning the commands removing their records.
func (a *atomicMigrations) endExportSkips(shard string, ranges [][2]int, start int64) [][]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out [][]string
	for job, x := range a.exportSkips[shard] {
		if start > x.held && overlaps(x.ranges, ranges) {
			delete(a.exportSkips[shard], job)
			out = append(out, []string{"HDEL", exportSkipField(shard, job)})
		}
	}
	return out
}

// skipsEndedBy returns the rules leaving out shard's writes to slots of
// ranges that job (an import into shard) ends: those of jobs older than it
// (shard's job log lists job as newer). Never nil.
func (a *atomicMigrations) skipsEndedBy(ctx context.Context, shard, job string, ranges [][2]int) []string {
	out := []string{}
	a.mu.Lock()
	rules := map[string]exportSkip{}
	for j, x := range a.exportSkips[shard] {
		if overlaps(x.ranges, ranges) {
			rules[j] = x
		}
	}
	a.mu.Unlock()
	for j, x := range rules {
		if a.hooks.later == nil {
			continue
		}
		if later, err := a.hooks.later(ctx, shard, j, x.ranges); err == nil && slices.Contains(later, job) {
			out = append(out, j)
		}
	}
	return out
}

// endExportSkipsOf ends shard's rules of jobs, returning the commands
// removing their records.
func (a *atomicMigrations) endExportSkipsOf(shard string, jobs []string) [][]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out [][]string
	for _, j := range jobs {
		if _, ok := a.exportSkips[shard][j]; ok {
			delete(a.exportSkips[shard], j)
			out = append(out, []string{"HDEL", exportSkipField(shard, j)})
		}
	}
	return out
}

// exportSkipField names a rule's record: xskip:<exporter>:<job>.
func exportSkipField(exporter, job string) string { return "xskip:" + exporter + ":" + job }
