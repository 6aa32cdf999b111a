package fidelity

import "strings"

// String commands. SET's options decide what the source propagates (EX/PX
// become PXAT, GET is dropped, IFEQ… conditions are checked on the source),
// so each form is an entry of its own.
func stringEntries() []Entry {
	old := []Cmd{{"SET", "{k}a", "old"}}
	oldTTL := []Cmd{{"SET", "{k}a", "old", "EX", "3600"}}
	es := []Entry{
		{Name: "set", Command: "set", Run: []Cmd{{"SET", "{k}a", "v"}}},
		{Name: "set.nx", Command: "set", Run: []Cmd{{"SET", "{k}a", "v", "NX"}}},
		{Name: "set.nx.ex", Command: "set", Run: []Cmd{{"SET", "{k}a", "v", "NX", "EX", "3600"}}},
		{Name: "set.xx", Command: "set", Setup: old, Run: []Cmd{{"SET", "{k}a", "new", "XX"}}},
		{Name: "set.xx.px", Command: "set", Setup: old, Run: []Cmd{{"SET", "{k}a", "new", "XX", "PX", "3600000"}}},
		{Name: "set.ex", Command: "set", Run: []Cmd{{"SET", "{k}a", "v", "EX", "3600"}}},
		{Name: "set.px", Command: "set", Run: []Cmd{{"SET", "{k}a", "v", "PX", "3600000"}}},
		{Name: "set.exat", Command: "set", Run: []Cmd{{"SET", "{k}a", "v", "EXAT", "{unix+3600}"}}},
		{Name: "set.pxat", Command: "set", Run: []Cmd{{"SET", "{k}a", "v", "PXAT", "{unixms+3600000}"}}},
		{Name: "set.exat.past", Command: "set", Setup: old, Run: []Cmd{{"SET", "{k}a", "v", "EXAT", "{unix-3600}"}}},
		{Name: "set.keepttl", Command: "set", Setup: oldTTL, Run: []Cmd{{"SET", "{k}a", "new", "KEEPTTL"}}},
		{Name: "set.get", Command: "set", Setup: old, Run: []Cmd{{"SET", "{k}a", "new", "GET"}}},
		{Name: "set.get.ex", Command: "set", Setup: old, Run: []Cmd{{"SET", "{k}a", "new", "GET", "EX", "3600"}}},
		{Name: "set.nx.get", Command: "set", Run: []Cmd{{"SET", "{k}a", "v", "NX", "GET"}}},
		{Name: "set.xx.get.keepttl", Command: "set", Setup: oldTTL, Run: []Cmd{{"SET", "{k}a", "new", "XX", "GET", "KEEPTTL"}}},
		{Name: "set.ifeq", Command: "set", Setup: old, Run: []Cmd{{"SET", "{k}a", "new", "IFEQ", "old"}}},
		{Name: "set.ifeq.ex", Command: "set", Setup: old, Run: []Cmd{{"SET", "{k}a", "new", "IFEQ", "old", "EX", "3600"}}},
		{Name: "set.ifeq.get", Command: "set", Setup: old, Run: []Cmd{{"SET", "{k}a", "new", "IFEQ", "old", "GET"}}},
		{Name: "set.ifeq.nomatch", Command: "set", Setup: old, Run: []Cmd{{"SET", "{k}a", "new", "IFEQ", "other"}}},
		{Name: "set.ifne", Command: "set", Setup: old, Run: []Cmd{{"SET", "{k}a", "new", "IFNE", "other"}}},
		{Name: "set.ifdeq", Command: "set", Setup: old, Run: []Cmd{{"SET", "{k}a", "new", "IFDEQ", "{digest:{k}a}"}}},
		{Name: "set.ifdne", Command: "set", Setup: old, Run: []Cmd{{"SET", "{k}a", "new", "IFDNE", "0123456789abcdef", "PX", "3600000"}}},
		{Name: "set.binary", Command: "set", Run: []Cmd{{"SET", "{k}a", "\x00\xff\r\n*1\r\n$3"}}},
		{Name: "setex", Command: "setex", Run: []Cmd{{"SETEX", "{k}a", "3600", "v"}}},
		{Name: "psetex", Command: "psetex", Run: []Cmd{{"PSETEX", "{k}a", "3600000", "v"}}},
		{Name: "setnx", Command: "setnx", Run: []Cmd{{"SETNX", "{k}a", "v"}}},
		{Name: "getset", Command: "getset", Setup: oldTTL, Run: []Cmd{{"GETSET", "{k}a", "new"}}},
		{Name: "append", Command: "append", Setup: old, Run: []Cmd{{"APPEND", "{k}a", "-more"}}},
		{Name: "append.new", Command: "append", Run: []Cmd{{"APPEND", "{k}a", "first"}}},
		{Name: "setrange", Command: "setrange", Setup: old, Run: []Cmd{{"SETRANGE", "{k}a", "10", "far"}}},
		{Name: "incr", Command: "incr", Setup: []Cmd{{"SET", "{k}a", "41"}}, Run: []Cmd{{"INCR", "{k}a"}}},
		{Name: "incrby", Command: "incrby", Run: []Cmd{{"INCRBY", "{k}a", "-7"}}},
		{Name: "decr", Command: "decr", Setup: []Cmd{{"SET", "{k}a", "10", "EX", "3600"}}, Run: []Cmd{{"DECR", "{k}a"}}},
		{Name: "decrby", Command: "decrby", Run: []Cmd{{"DECRBY", "{k}a", "5"}}},
		// INCRBYFLOAT propagates as SET … KEEPTTL with the exact result.
		{Name: "incrbyfloat", Command: "incrbyfloat", Setup: []Cmd{{"SET", "{k}a", "10.5", "EX", "3600"}}, Run: []Cmd{{"INCRBYFLOAT", "{k}a", "0.1"}}},
		{Name: "incrbyfloat.exp", Command: "incrbyfloat", Run: []Cmd{{"INCRBYFLOAT", "{k}a", "5.0e3"}}},
		{Name: "mset", Command: "mset", Run: []Cmd{{"MSET", "{k}a", "1", "{k}b", "2"}}},
		{Name: "msetnx", Command: "msetnx", Run: []Cmd{{"MSETNX", "{k}a", "1", "{k}b", "2"}}},
		{Name: "getdel", Command: "getdel", Setup: old, Run: []Cmd{{"GETDEL", "{k}a"}}},
		{Name: "getex.ex", Command: "getex", Setup: old, Run: []Cmd{{"GETEX", "{k}a", "EX", "3600"}}},
		{Name: "getex.px", Command: "getex", Setup: old, Run: []Cmd{{"GETEX", "{k}a", "PX", "3600000"}}},
		{Name: "getex.exat", Command: "getex", Setup: old, Run: []Cmd{{"GETEX", "{k}a", "EXAT", "{unix+3600}"}}},
		{Name: "getex.pxat", Command: "getex", Setup: old, Run: []Cmd{{"GETEX", "{k}a", "PXAT", "{unixms+3600000}"}}},
		{Name: "getex.persist", Command: "getex", Setup: oldTTL, Run: []Cmd{{"GETEX", "{k}a", "PERSIST"}}},
		{Name: "getex.exat.past", Command: "getex", Setup: old, Run: []Cmd{{"GETEX", "{k}a", "EXAT", "{unix-10}"}}},
		{Name: "delex", Command: "delex", Setup: old, Run: []Cmd{{"DELEX", "{k}a"}}},
		{Name: "delex.ifeq", Command: "delex", Setup: old, Run: []Cmd{{"DELEX", "{k}a", "IFEQ", "old"}}},
		{Name: "delex.ifne", Command: "delex", Setup: old, Run: []Cmd{{"DELEX", "{k}a", "IFNE", "other"}}},
		{Name: "delex.ifdeq", Command: "delex", Setup: old, Run: []Cmd{{"DELEX", "{k}a", "IFDEQ", "{digest:{k}a}"}}},
		{Name: "delex.ifdne", Command: "delex", Setup: old, Run: []Cmd{{"DELEX", "{k}a", "IFDNE", "0123456789abcdef"}}},
		{Name: "delifeq", Command: "delifeq", Setup: old, Run: []Cmd{{"DELIFEQ", "{k}a", "old"}}},
	}
	es = append(es, forms("msetex", "msetex", nil, Cmd{"MSETEX", "2", "{k}a", "1", "{k}b", "2"}, map[string][]string{
		"plain": nil,
		"ex":    {"EX", "3600"},
		"px":    {"PX", "3600000"},
		"exat":  {"EXAT", "{unix+3600}"},
		"pxat":  {"PXAT", "{unixms+3600000}"},
		"nx":    {"NX", "EX", "3600"},
	})...)
	es = append(es,
		Entry{Name: "msetex.xx.keepttl", Command: "msetex", Setup: []Cmd{{"SET", "{k}a", "0", "EX", "3600"}, {"SET", "{k}b", "0"}},
			Run: []Cmd{{"MSETEX", "2", "{k}a", "1", "{k}b", "2", "XX", "KEEPTTL"}}},
	)
	return es
}

// Bit commands: SETBIT, BITFIELD (its OVERFLOW modes decide the result),
// BITOP with every operation.
func bitEntries() []Entry {
	src := []Cmd{{"SET", "{k}a", "\xf0\x0f\xaa"}, {"SET", "{k}b", "\x0f\x0f\x55\x01"}, {"SET", "{k}c", "\xff"}}
	es := []Entry{
		{Name: "setbit", Command: "setbit", Run: []Cmd{{"SETBIT", "{k}a", "100", "1"}}},
		{Name: "bitfield.set", Command: "bitfield", Run: []Cmd{{"BITFIELD", "{k}a", "SET", "u8", "0", "200", "GET", "u4", "0"}}},
		{Name: "bitfield.incrby", Command: "bitfield", Run: []Cmd{{"BITFIELD", "{k}a", "INCRBY", "i5", "100", "7"}}},
		{Name: "bitfield.overflow.wrap", Command: "bitfield", Setup: []Cmd{{"BITFIELD", "{k}a", "SET", "u8", "0", "250"}},
			Run: []Cmd{{"BITFIELD", "{k}a", "OVERFLOW", "WRAP", "INCRBY", "u8", "0", "10"}}},
		{Name: "bitfield.overflow.sat", Command: "bitfield", Setup: []Cmd{{"BITFIELD", "{k}a", "SET", "u8", "0", "250"}},
			Run: []Cmd{{"BITFIELD", "{k}a", "OVERFLOW", "SAT", "INCRBY", "u8", "0", "10"}}},
		{Name: "bitfield.overflow.fail", Command: "bitfield", Setup: []Cmd{{"BITFIELD", "{k}a", "SET", "u8", "0", "250"}},
			Run: []Cmd{{"BITFIELD", "{k}a", "OVERFLOW", "FAIL", "INCRBY", "u8", "0", "10", "INCRBY", "u8", "8", "1"}}},
	}
	for _, op := range []string{"AND", "OR", "XOR", "DIFF", "DIFF1", "ANDOR", "ONE"} {
		es = append(es, Entry{Name: "bitop." + strings.ToLower(op), Command: "bitop", Setup: src,
			Run: []Cmd{{"BITOP", op, "{k}dst", "{k}a", "{k}b", "{k}c"}}})
	}
	es = append(es,
		Entry{Name: "bitop.not", Command: "bitop", Setup: src, Run: []Cmd{{"BITOP", "NOT", "{k}dst", "{k}a"}}},
		// An empty result deletes the destination (propagated as DEL).
		Entry{Name: "bitop.empty", Command: "bitop", Setup: []Cmd{{"SET", "{k}dst", "x"}}, Run: []Cmd{{"BITOP", "AND", "{k}dst", "{k}none"}}},
	)
	return es
}
