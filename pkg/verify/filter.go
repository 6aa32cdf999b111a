package verify

import "sort"

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
			if s, ok := c.opt.Filter.SourceDB(db); ok {
				add(s)
			}
		}
		sort.Ints(dbs)
	}
	out := dbs[:0:0]
	for _, db := range dbs {
		if _, taken := c.opt.Filter.TargetDB(db); taken {
			out = append(out, db)
		}
	}
	return out
}

// targetDB is the target db that source db db is compared with.
func (c *comparer) targetDB(db int) int {
	to, _ := c.opt.Filter.TargetDB(db)
	return to
}
