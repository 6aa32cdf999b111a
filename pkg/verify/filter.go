package verify

import "sort"

// Filter is what verify needs of a sync's filter (transform.Filter, whose
// nil value takes everything): which dbs map where, which key names and
// types it copies.
type Filter interface {
	TargetDB(db int) (int, bool)
	SourceDB(db int) (int, bool)
	KeyName(key []byte) bool
	TypeDropped(typ string) bool
}

// takeAll is the Filter of a verify without one.
type takeAll struct{}

func (takeAll) TargetDB(db int) (int, bool) { return db, true }
func (takeAll) SourceDB(db int) (int, bool) { return db, true }
func (takeAll) KeyName([]byte) bool         { return true }
func (takeAll) TypeDropped(string) bool     { return false }

func (c *comparer) keyFilter() Filter {
	if c.opt.Filter == nil {
		return takeAll{}
	}
	return c.opt.Filter
}

// dbsToCompare are the source dbs to compare: Options.DBs, or every db that
// holds keys on the source or (mapped back) on the target; those the filter
// leaves out are not compared.
func (c *comparer) dbsToCompare(src, dst *side) []int {
	dbs := c.opt.DBs
	if dbs == nil {
		seen := map[int]bool{}
		add := func(db int) {
			if !seen[db] {
				seen[db] = true
				dbs = append(dbs, db)
			}
		}
		for _, db := range src.dbs() {
			add(db)
		}
		for _, db := range dst.dbs() {
			if s, ok := c.keyFilter().SourceDB(db); ok {
				add(s)
			}
		}
		sort.Ints(dbs)
	}
	out := dbs[:0:0]
	for _, db := range dbs {
		if _, taken := c.keyFilter().TargetDB(db); taken {
			out = append(out, db)
		}
	}
	return out
}

// targetDB is the target db that source db db is compared with.
func (c *comparer) targetDB(db int) int {
	to, _ := c.keyFilter().TargetDB(db)
	return to
}
