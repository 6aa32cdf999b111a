package clustersource

import (
	"context"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/syncer"
)

// Redis 8.4+ replicates TRIMSLOTS RANGES <n> <a> <b> … when a master drops
// the keys of slots it does not own. After a migration this sync followed
// — the exporter's trim after its completed mark, the importer's after a
// failed import whose copy was left out — the target holds nothing to drop
// (the importer's copy, or its absence, is the slots' content there), so the
// trim is left out. Any other trim (TRIMSLOTS sent by hand, a migration that
// began before this sync's snapshot, an import whose copy was applied
// because its exporter is not followed) dropped keys the target got from
// this shard, and is applied: the target's keys of those slots are deleted,
// except those the slots' owner holds. The target cannot tell which master
// a key came from, and the owner's keys of the slots are the ones the
// source keeps; when the owner is not followed (--shards) the target holds
// none of its keys, so every key of the slots goes.

// expectTrim notes that shard's stream is to trim ranges for task, and
// returns the command recording it in the asm hash.
func (a *atomicMigrations) expectTrim(shard, task string, ranges [][2]int) []string {
	a.mu.Lock()
	if a.trims[shard] == nil {
		a.trims[shard] = map[string][][2]int{}
	}
	a.trims[shard][task] = ranges
	a.mu.Unlock()
	return []string{"HSET", trimField(shard, task), formatRanges(ranges)}
}

// trimField names an expected trim's record: trim:<shard>:<task>.
func trimField(shard, task string) string { return "trim:" + shard + ":" + task }

// admitTrim leaves out a trim of a migration this sync followed, and
// applies any other (see the top of the file).
func (a *atomicMigrations) admitTrim(shard string, args [][]byte, db int, offset int64) syncer.Admission {
	ranges := trimRanges(args)
	a.mu.Lock()
	for task, want := range a.trims[shard] {
		if covered(ranges, want) {
			delete(a.trims[shard], task)
			a.mu.Unlock()
			return a.persist(db, "HDEL", trimField(shard, task))
		}
	}
	done := a.trimmed[shard] >= offset
	a.mu.Unlock()
	if done || len(ranges) == 0 || a.hooks.trimOrphans == nil {
		return syncer.Admission{Skip: true}
	}
	return syncer.Admission{Wait: func(ctx context.Context) error {
		a.log.Info("a trim of slots not moved by a migration this sync followed: deleting the target's keys of them "+
			"that their owner does not hold", zap.String("shard", shard), zap.String("slots", formatRanges(ranges)))
		if err := a.hooks.trimOrphans(ctx, shard, ranges); err != nil {
			return err
		}
		a.mu.Lock()
		a.trimmed[shard] = offset
		a.mu.Unlock()
		return nil
	}}
}

// trimRanges reads TRIMSLOTS RANGES <n> <a> <b> ….
func trimRanges(args [][]byte) [][2]int {
	var out [][2]int
	if len(args) < 3 || !strings.EqualFold(string(args[1]), "ranges") {
		return nil
	}
	n, err := strconv.Atoi(string(args[2]))
	if err != nil {
		return nil
	}
	for i := 0; i < n && 4+2*i < len(args); i++ {
		from, err1 := strconv.Atoi(string(args[3+2*i]))
		to, err2 := strconv.Atoi(string(args[4+2*i]))
		if err1 != nil || err2 != nil {
			return nil
		}
		out = append(out, [2]int{from, to})
	}
	return out
}

// covered: every slot of ranges is in want.
func covered(ranges, want [][2]int) bool {
	for _, r := range ranges {
		for slot := r[0]; slot <= r[1]; slot++ {
			im := asmImport{ranges: want}
			if !im.covers(slot) {
				return false
			}
		}
	}
	return true
}
