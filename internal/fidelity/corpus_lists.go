package fidelity

import "strings"

// List commands. Pops with a count, the blocking forms (run with data
// present, so they return at once) and LMOVE's four directions each
// propagate differently.
func listEntries() []Entry {
	list := []Cmd{{"RPUSH", "{k}a", "a1", "a2", "a3", "a4", "a5"}}
	two := []Cmd{{"RPUSH", "{k}a", "a1", "a2", "a3"}, {"RPUSH", "{k}b", "b1", "b2"}}
	es := []Entry{
		{Name: "lpush", Command: "lpush", Run: []Cmd{{"LPUSH", "{k}a", "x", "y", "z"}}},
		{Name: "rpush", Command: "rpush", Run: []Cmd{{"RPUSH", "{k}a", "x", "y", "z"}}},
		{Name: "lpushx", Command: "lpushx", Setup: list, Run: []Cmd{{"LPUSHX", "{k}a", "x"}, {"LPUSHX", "{k}none", "x"}}},
		{Name: "rpushx", Command: "rpushx", Setup: list, Run: []Cmd{{"RPUSHX", "{k}a", "x", "y"}}},
		{Name: "linsert.before", Command: "linsert", Setup: list, Run: []Cmd{{"LINSERT", "{k}a", "BEFORE", "a3", "new"}}},
		{Name: "linsert.after", Command: "linsert", Setup: list, Run: []Cmd{{"LINSERT", "{k}a", "AFTER", "a3", "new"}}},
		{Name: "lset", Command: "lset", Setup: list, Run: []Cmd{{"LSET", "{k}a", "-2", "changed"}}},
		{Name: "lrem", Command: "lrem", Setup: []Cmd{{"RPUSH", "{k}a", "x", "y", "x", "z", "x"}}, Run: []Cmd{{"LREM", "{k}a", "-2", "x"}}},
		{Name: "ltrim", Command: "ltrim", Setup: list, Run: []Cmd{{"LTRIM", "{k}a", "1", "-2"}}},
		{Name: "ltrim.empty", Command: "ltrim", Setup: list, Run: []Cmd{{"LTRIM", "{k}a", "5", "1"}}},
		{Name: "lpop", Command: "lpop", Setup: list, Run: []Cmd{{"LPOP", "{k}a"}}},
		{Name: "lpop.count", Command: "lpop", Setup: list, Run: []Cmd{{"LPOP", "{k}a", "2"}}},
		{Name: "lpop.count.all", Command: "lpop", Setup: list, Run: []Cmd{{"LPOP", "{k}a", "10"}}},
		{Name: "rpop", Command: "rpop", Setup: list, Run: []Cmd{{"RPOP", "{k}a"}}},
		{Name: "rpop.count", Command: "rpop", Setup: list, Run: []Cmd{{"RPOP", "{k}a", "3"}}},
		{Name: "rpoplpush", Command: "rpoplpush", Setup: two, Run: []Cmd{{"RPOPLPUSH", "{k}a", "{k}b"}}},
		{Name: "rpoplpush.same", Command: "rpoplpush", Setup: list, Run: []Cmd{{"RPOPLPUSH", "{k}a", "{k}a"}}},
		{Name: "brpoplpush", Command: "brpoplpush", Setup: two, Run: []Cmd{{"BRPOPLPUSH", "{k}a", "{k}b", "1"}}},
		{Name: "blpop", Command: "blpop", Setup: two, Run: []Cmd{{"BLPOP", "{k}none", "{k}b", "{k}a", "1"}}},
		{Name: "brpop", Command: "brpop", Setup: two, Run: []Cmd{{"BRPOP", "{k}a", "{k}b", "1"}}},
		{Name: "lmpop.left", Command: "lmpop", Setup: two, Run: []Cmd{{"LMPOP", "2", "{k}none", "{k}a", "LEFT"}}},
		{Name: "lmpop.right.count", Command: "lmpop", Setup: two, Run: []Cmd{{"LMPOP", "2", "{k}b", "{k}a", "RIGHT", "COUNT", "5"}}},
		{Name: "blmpop.left.count", Command: "blmpop", Setup: two, Run: []Cmd{{"BLMPOP", "1", "2", "{k}a", "{k}b", "LEFT", "COUNT", "2"}}},
		{Name: "blmpop.right", Command: "blmpop", Setup: two, Run: []Cmd{{"BLMPOP", "1", "1", "{k}b", "RIGHT"}}},
	}
	for _, d := range [][2]string{{"LEFT", "LEFT"}, {"LEFT", "RIGHT"}, {"RIGHT", "LEFT"}, {"RIGHT", "RIGHT"}} {
		name := "lmove." + strings.ToLower(d[0]+"."+d[1])
		es = append(es, Entry{Name: name, Command: "lmove", Setup: two, Run: []Cmd{{"LMOVE", "{k}a", "{k}b", d[0], d[1]}}})
	}
	es = append(es,
		Entry{Name: "lmove.new", Command: "lmove", Setup: list, Run: []Cmd{{"LMOVE", "{k}a", "{k}c", "LEFT", "RIGHT"}}},
		Entry{Name: "blmove.left.right", Command: "blmove", Setup: two, Run: []Cmd{{"BLMOVE", "{k}a", "{k}b", "LEFT", "RIGHT", "1"}}},
		Entry{Name: "blmove.right.left", Command: "blmove", Setup: two, Run: []Cmd{{"BLMOVE", "{k}a", "{k}b", "RIGHT", "LEFT", "1"}}},
	)
	return es
}

// Set commands. SPOP is random on the source: it propagates SREM of the
// members it took.
func setEntries() []Entry {
	sets := []Cmd{{"SADD", "{k}a", "1", "2", "3", "4", "x"}, {"SADD", "{k}b", "3", "4", "5", "y"}}
	return []Entry{
		{Name: "sadd", Command: "sadd", Run: []Cmd{{"SADD", "{k}a", "m1", "m2", "m3"}}},
		{Name: "sadd.intset", Command: "sadd", Run: []Cmd{{"SADD", "{k}a", "1", "2", "-3"}}},
		{Name: "srem", Command: "srem", Setup: sets, Run: []Cmd{{"SREM", "{k}a", "1", "x", "nope"}}},
		{Name: "smove", Command: "smove", Setup: sets, Run: []Cmd{{"SMOVE", "{k}a", "{k}b", "x"}}},
		{Name: "spop", Command: "spop", Setup: sets, Run: []Cmd{{"SPOP", "{k}a"}}},
		{Name: "spop.count", Command: "spop", Setup: sets, Run: []Cmd{{"SPOP", "{k}a", "3"}}},
		{Name: "spop.count.all", Command: "spop", Setup: sets, Run: []Cmd{{"SPOP", "{k}b", "10"}}},
		{Name: "sinterstore", Command: "sinterstore", Setup: sets, Run: []Cmd{{"SINTERSTORE", "{k}dst", "{k}a", "{k}b"}}},
		{Name: "sunionstore", Command: "sunionstore", Setup: sets, Run: []Cmd{{"SUNIONSTORE", "{k}dst", "{k}a", "{k}b"}}},
		{Name: "sdiffstore", Command: "sdiffstore", Setup: sets, Run: []Cmd{{"SDIFFSTORE", "{k}dst", "{k}a", "{k}b"}}},
		{Name: "sdiffstore.empty", Command: "sdiffstore", Setup: []Cmd{{"SET", "{k}dst", "x"}}, Run: []Cmd{{"SDIFFSTORE", "{k}dst", "{k}none"}}},
	}
}

// Sorted set commands. ZADD's GT/LT/INCR and the store commands' options
// change what the source computes.
func zsetEntries() []Entry {
	z := []Cmd{{"ZADD", "{k}a", "1", "m1", "2", "m2", "3", "m3", "4", "m4"}}
	two := []Cmd{{"ZADD", "{k}a", "1", "m1", "2", "m2", "3", "m3"}, {"ZADD", "{k}b", "10", "m2", "20", "m3", "30", "m4"}}
	lex := []Cmd{{"ZADD", "{k}a", "0", "a", "0", "b", "0", "c", "0", "d", "0", "e"}}
	es := []Entry{
		{Name: "zadd", Command: "zadd", Run: []Cmd{{"ZADD", "{k}a", "1.5", "m1", "-inf", "low", "+inf", "high"}}},
		{Name: "zadd.nx", Command: "zadd", Setup: z, Run: []Cmd{{"ZADD", "{k}a", "NX", "9", "m1", "9", "new"}}},
		{Name: "zadd.xx.ch", Command: "zadd", Setup: z, Run: []Cmd{{"ZADD", "{k}a", "XX", "CH", "9", "m1", "9", "new"}}},
		{Name: "zadd.gt", Command: "zadd", Setup: z, Run: []Cmd{{"ZADD", "{k}a", "GT", "0", "m1", "9", "m2", "5", "new"}}},
		{Name: "zadd.lt", Command: "zadd", Setup: z, Run: []Cmd{{"ZADD", "{k}a", "LT", "0", "m1", "9", "m2", "5", "new"}}},
		{Name: "zadd.incr", Command: "zadd", Setup: z, Run: []Cmd{{"ZADD", "{k}a", "INCR", "0.25", "m3"}}},
		{Name: "zadd.gt.incr", Command: "zadd", Setup: z, Run: []Cmd{{"ZADD", "{k}a", "GT", "INCR", "-1", "m3"}}},
		{Name: "zadd.float", Command: "zadd", Run: []Cmd{{"ZADD", "{k}a", "0.1", "m", "3.0000000000000004", "n"}}},
		{Name: "zincrby", Command: "zincrby", Setup: z, Run: []Cmd{{"ZINCRBY", "{k}a", "0.1", "m2"}}},
		{Name: "zrem", Command: "zrem", Setup: z, Run: []Cmd{{"ZREM", "{k}a", "m1", "m4", "nope"}}},
		{Name: "zremrangebyscore", Command: "zremrangebyscore", Setup: z, Run: []Cmd{{"ZREMRANGEBYSCORE", "{k}a", "(1", "3"}}},
		{Name: "zremrangebyrank", Command: "zremrangebyrank", Setup: z, Run: []Cmd{{"ZREMRANGEBYRANK", "{k}a", "0", "1"}}},
		{Name: "zremrangebylex", Command: "zremrangebylex", Setup: lex, Run: []Cmd{{"ZREMRANGEBYLEX", "{k}a", "[b", "(d"}}},
		{Name: "zpopmin", Command: "zpopmin", Setup: z, Run: []Cmd{{"ZPOPMIN", "{k}a"}}},
		{Name: "zpopmin.count", Command: "zpopmin", Setup: z, Run: []Cmd{{"ZPOPMIN", "{k}a", "2"}}},
		{Name: "zpopmax.count", Command: "zpopmax", Setup: z, Run: []Cmd{{"ZPOPMAX", "{k}a", "10"}}},
		{Name: "bzpopmin", Command: "bzpopmin", Setup: two, Run: []Cmd{{"BZPOPMIN", "{k}none", "{k}a", "1"}}},
		{Name: "bzpopmax", Command: "bzpopmax", Setup: two, Run: []Cmd{{"BZPOPMAX", "{k}b", "1"}}},
		{Name: "zmpop.min", Command: "zmpop", Setup: two, Run: []Cmd{{"ZMPOP", "2", "{k}a", "{k}b", "MIN"}}},
		{Name: "zmpop.max.count", Command: "zmpop", Setup: two, Run: []Cmd{{"ZMPOP", "1", "{k}b", "MAX", "COUNT", "2"}}},
		{Name: "bzmpop.min.count", Command: "bzmpop", Setup: two, Run: []Cmd{{"BZMPOP", "1", "1", "{k}a", "MIN", "COUNT", "5"}}},
		{Name: "bzmpop.max", Command: "bzmpop", Setup: two, Run: []Cmd{{"BZMPOP", "1", "2", "{k}none", "{k}b", "MAX"}}},
		{Name: "zunionstore", Command: "zunionstore", Setup: two, Run: []Cmd{{"ZUNIONSTORE", "{k}dst", "2", "{k}a", "{k}b", "AGGREGATE", "SUM"}}},
		{Name: "zunionstore.weights.max", Command: "zunionstore", Setup: two, Run: []Cmd{{"ZUNIONSTORE", "{k}dst", "2", "{k}a", "{k}b", "WEIGHTS", "2", "0.5", "AGGREGATE", "MAX"}}},
		{Name: "zunionstore.min", Command: "zunionstore", Setup: two, Run: []Cmd{{"ZUNIONSTORE", "{k}dst", "2", "{k}a", "{k}b", "AGGREGATE", "MIN"}}},
		{Name: "zinterstore", Command: "zinterstore", Setup: two, Run: []Cmd{{"ZINTERSTORE", "{k}dst", "2", "{k}a", "{k}b", "AGGREGATE", "SUM"}}},
		{Name: "zinterstore.weights.min", Command: "zinterstore", Setup: two, Run: []Cmd{{"ZINTERSTORE", "{k}dst", "2", "{k}a", "{k}b", "WEIGHTS", "3", "1", "AGGREGATE", "MIN"}}},
		{Name: "zinterstore.max", Command: "zinterstore", Setup: two, Run: []Cmd{{"ZINTERSTORE", "{k}dst", "2", "{k}a", "{k}b", "AGGREGATE", "MAX"}}},
		{Name: "zdiffstore", Command: "zdiffstore", Setup: two, Run: []Cmd{{"ZDIFFSTORE", "{k}dst", "2", "{k}a", "{k}b"}}},
		{Name: "zrangestore", Command: "zrangestore", Setup: z, Run: []Cmd{{"ZRANGESTORE", "{k}dst", "{k}a", "1", "2"}}},
		{Name: "zrangestore.byscore.rev.limit", Command: "zrangestore", Setup: z, Run: []Cmd{{"ZRANGESTORE", "{k}dst", "{k}a", "(4", "1", "BYSCORE", "REV", "LIMIT", "0", "2"}}},
		{Name: "zrangestore.bylex", Command: "zrangestore", Setup: lex, Run: []Cmd{{"ZRANGESTORE", "{k}dst", "{k}a", "[b", "[d", "BYLEX"}}},
	}
	return es
}
