package transform

import (
	"strconv"

	"github.com/redferry/redferry/pkg/server"
)

func listRows() []translation {
	return []translation{
		{command: "lpop", form: "LPOP k n", from: "Redis 6.2+, Valkey (also LMPOP, BLMPOP … LEFT)",
			takes: "Redis 6.2+, Valkey", into: "LTRIM k n -1",
			match: withCount, accepts: server.Info.PopCount, rewrite: (*Translator).popCount},
		{command: "rpop", form: "RPOP k n", from: "Redis 6.2+, Valkey (also LMPOP, BLMPOP … RIGHT)",
			takes: "Redis 6.2+, Valkey", into: "LTRIM k 0 -(n+1)",
			match: withCount, accepts: server.Info.PopCount, rewrite: (*Translator).popCount},
		{command: "lmove", form: "LMOVE src dst FROM TO", from: "Redis 6.2+, Valkey (also BLMOVE)",
			takes: "Redis 6.2+, Valkey", into: "RPOPLPUSH (RIGHT LEFT), else an EVAL pop+push (into a cluster with src and dst in different slots: LMOVE as it is, which the cluster target carries out: LINDEX, push, pop)",
			accepts: server.Info.LMove, rewrite: (*Translator).lmove},
		{command: "blmove", form: "BLMOVE src dst FROM TO timeout", from: "none (propagated as LMOVE)",
			takes: "Redis 6.2+, Valkey", into: "as LMOVE",
			accepts: server.Info.LMove, rewrite: (*Translator).lmove},
	}
}

func withCount(a [][]byte) bool { return len(a) == 3 }

// popCount rewrites LPOP/RPOP key count as the LTRIM that keeps the rest:
// the same elements go, and an emptied list is deleted all the same.
func (t *Translator) popCount(c *call) error {
	n, err := strconv.ParseInt(string(c.args[2]), 10, 64)
	if err != nil || n < 0 {
		return t.pass(c) // the target reports the error
	}
	if c.name == "lpop" {
		t.emit(c, word("LTRIM"), c.args[1], strconv.AppendInt(nil, n, 10), word("-1"))
	} else {
		t.emit(c, word("LTRIM"), c.args[1], word("0"), strconv.AppendInt(nil, -(n+1), 10))
	}
	return nil
}

const lmoveScript = "local v = redis.call(ARGV[1] == 'LEFT' and 'LPOP' or 'RPOP', KEYS[1]) " +
	"if v then redis.call(ARGV[2] == 'LEFT' and 'LPUSH' or 'RPUSH', KEYS[2], v) end return v"

// lmove rewrites LMOVE/BLMOVE src dst from to [timeout] for targets before 6.2.
func (t *Translator) lmove(c *call) error {
	args := c.args
	if len(args) < 5 {
		return t.pass(c)
	}
	from, to := side(args[3]), side(args[4])
	if from == "" || to == "" {
		return t.pass(c)
	}
	if from == "RIGHT" && to == "LEFT" {
		t.emit(c, word("RPOPLPUSH"), args[1], args[2])
		return nil
	}
	if t.splitsSlots(args[1], args[2]) {
		return t.pass(c) // the cluster sink moves the element (translate_cluster.go)
	}
	t.emit(c, word("EVAL"), word(lmoveScript), word("2"), args[1], args[2], word(from), word(to))
	return nil
}

func side(a []byte) string {
	switch {
	case is(a, "left"):
		return "LEFT"
	case is(a, "right"):
		return "RIGHT"
	}
	return ""
}
