package scan

import (
	"sort"

	"github.com/redferry/redferry/transform"
)

// The scan applies Options.Filter with transform.Filter's own decisions
// (no second matcher): a source db not taken is not SCANned, a key whose
// name is left out is not read, a key of a dropped type (TYPE, read with
// its size) is not copied, and every write goes to the target db db-map
// gives (the writer maps dbs). A key is decided on each time it is
// copied, so a key changed in live mode is decided on again: a rename
// from a taken name to one left out deletes it on the target (the old
// name is gone), one the other way copies it.

// filtered counts a key the filter left out.
func (s *scanner) filtered(reason string) {
	s.stats.Filtered++
	if s.opt.OnFiltered != nil {
		s.opt.OnFiltered(reason)
	}
}

// takenKeys leaves out the keys of db the filter does not take by db or
// by name; the rest are read and decided on by type.
func (s *scanner) takenKeys(db int, keys []string) []string {
	f := s.opt.Filter
	if f == nil {
		return keys
	}
	out := keys[:0:0]
	for _, k := range keys {
		if keep, reason := f.Key(db, []byte(k), ""); !keep {
			s.filtered(reason)
			continue
		}
		out = append(out, k)
	}
	return out
}

// typeDropped reports whether ki is of a type the filter drops. A key
// copied again (live, or by a later pass) may have been of a taken type
// before: it is deleted on the target, as the sync's filter would have
// left the target without it.
func (s *scanner) typeDropped(db int, ki keyInfo) bool {
	if !s.opt.Filter.TypeDropped(ki.typ) {
		return false
	}
	s.filtered(transform.ReasonType)
	if s.recopy || s.w.state.Pass > 1 {
		s.w.del(db, []byte(ki.key))
	}
	return true
}

// takenDBs is dbs (source db → keys) without the dbs the filter leaves
// out: they are not SCANned.
func (s *scanner) takenDBs(dbs map[int]int64) map[int]int64 {
	if s.opt.Filter == nil {
		return dbs
	}
	out := make(map[int]int64, len(dbs))
	for db, n := range dbs {
		if _, ok := s.opt.Filter.TargetDB(db); ok {
			out[db] = n
		}
	}
	return out
}

// clusterRefused are the source dbs holding keys (dbs) whose keys would
// go to a db other than 0 of the target (a cluster has db 0 only).
func (s *scanner) clusterRefused(dbs map[int]int64) []int {
	var out []int
	for db, n := range dbs {
		to, ok := s.opt.Filter.TargetDB(db)
		if ok && to != 0 && n > 0 {
			out = append(out, db)
		}
	}
	sort.Ints(out)
	return out
}

// pruneSourceDB is the source db whose keys target db db holds, and
// whether one does: a prune leaves a target db no source db is written to
// alone (the target's own), and in one that is, the keys the filter does
// not take by name (the target's own too).
func (s *scanner) pruneSourceDB(db int) (int, bool) {
	return s.opt.Filter.SourceDB(db)
}

// pruneCandidate reports whether target key k may be pruned: only keys
// the filter takes by name are.
func (s *scanner) pruneCandidate(k string) bool {
	return s.opt.Filter.KeyName([]byte(k))
}
