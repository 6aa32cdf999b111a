package fidelity

// fillStream adds n entries with ids 1-1 … 1-n to {k}a (one script, so
// long streams cost one command).
func fillStream(n string) Cmd {
	return Cmd{"EVAL", "for i = 1, tonumber(ARGV[1]) do redis.call('XADD', KEYS[1], '1-' .. i, 'f', i) end return 1", "1", "{k}a", n}
}

// withGroup is a stream {k}a of 5 entries and group g, whose consumer c1
// has read the first 3 (pending).
func withGroup() []Cmd {
	return []Cmd{
		fillStream("5"),
		{"XGROUP", "CREATE", "{k}a", "g", "0"},
		{"XREADGROUP", "GROUP", "g", "c1", "COUNT", "3", "STREAMS", "{k}a", ">"},
	}
}

// Stream writes: XADD with every trimming and reference option, XTRIM,
// XDEL, XDELEX, XSETID and the 8.6 idempotency (IDMP) settings.
func streamEntries() []Entry {
	s5 := []Cmd{fillStream("5")}
	s250 := []Cmd{fillStream("250")}
	es := []Entry{
		{Name: "xadd", Command: "xadd", Run: []Cmd{{"XADD", "{k}a", "*", "f", "v"}}},
		{Name: "xadd.id", Command: "xadd", Run: []Cmd{{"XADD", "{k}a", "5-1", "f", "v", "g", "w"}}},
		{Name: "xadd.seq-auto", Command: "xadd", Setup: s5, Run: []Cmd{{"XADD", "{k}a", "1-*", "f", "v"}}},
		{Name: "xadd.nomkstream", Command: "xadd", Setup: s5, Run: []Cmd{{"XADD", "{k}a", "NOMKSTREAM", "*", "f", "v"}}},
		{Name: "xadd.nomkstream.missing", Command: "xadd", Run: []Cmd{{"XADD", "{k}a", "NOMKSTREAM", "*", "f", "v"}, {"SET", "{k}marker", "1"}}},
		{Name: "xadd.maxlen", Command: "xadd", Setup: s5, Run: []Cmd{{"XADD", "{k}a", "MAXLEN", "3", "*", "f", "v"}}},
		{Name: "xadd.maxlen.eq", Command: "xadd", Setup: s5, Run: []Cmd{{"XADD", "{k}a", "MAXLEN", "=", "2", "*", "f", "v"}}},
		{Name: "xadd.maxlen.approx", Command: "xadd", Setup: s250, Run: []Cmd{{"XADD", "{k}a", "MAXLEN", "~", "10", "*", "f", "v"}}},
		{Name: "xadd.maxlen.approx.limit", Command: "xadd", Setup: s250, Run: []Cmd{{"XADD", "{k}a", "MAXLEN", "~", "10", "LIMIT", "100", "*", "f", "v"}}},
		{Name: "xadd.minid", Command: "xadd", Setup: s5, Run: []Cmd{{"XADD", "{k}a", "MINID", "1-3", "*", "f", "v"}}},
		{Name: "xadd.minid.approx.limit", Command: "xadd", Setup: s250, Run: []Cmd{{"XADD", "{k}a", "MINID", "~", "1-200", "LIMIT", "100", "*", "f", "v"}}},
		{Name: "xadd.keepref", Command: "xadd", Setup: withGroup(), Run: []Cmd{{"XADD", "{k}a", "KEEPREF", "MAXLEN", "2", "*", "f", "v"}}},
		{Name: "xadd.delref", Command: "xadd", Setup: withGroup(), Run: []Cmd{{"XADD", "{k}a", "DELREF", "MAXLEN", "2", "*", "f", "v"}}},
		{Name: "xadd.acked", Command: "xadd", Setup: withGroup(), Run: []Cmd{{"XADD", "{k}a", "ACKED", "MAXLEN", "2", "*", "f", "v"}}},
		// IDMP: the second XADD with the same producer and id adds nothing.
		{Name: "xadd.idmp", Command: "xadd", Run: []Cmd{
			{"XADD", "{k}a", "IDMP", "p1", "i1", "*", "f", "v"},
			{"XADD", "{k}a", "IDMP", "p1", "i1", "*", "f", "v"},
			{"XADD", "{k}a", "IDMP", "p1", "i2", "*", "f", "w"},
		}},
		{Name: "xadd.idmpauto", Command: "xadd", Run: []Cmd{
			{"XADD", "{k}a", "IDMPAUTO", "p1", "*", "f", "v"},
			{"XADD", "{k}a", "IDMPAUTO", "p1", "*", "f", "v"},
		}},
		{Name: "xadd.idmp.maxlen", Command: "xadd", Setup: s5, Run: []Cmd{{"XADD", "{k}a", "IDMP", "p1", "i1", "MAXLEN", "3", "*", "f", "v"}}},
		{Name: "xtrim.maxlen", Command: "xtrim", Setup: s5, Run: []Cmd{{"XTRIM", "{k}a", "MAXLEN", "2"}}},
		{Name: "xtrim.maxlen.approx.limit", Command: "xtrim", Setup: s250, Run: []Cmd{{"XTRIM", "{k}a", "MAXLEN", "~", "10", "LIMIT", "100"}}},
		{Name: "xtrim.minid", Command: "xtrim", Setup: s5, Run: []Cmd{{"XTRIM", "{k}a", "MINID", "1-4"}}},
		{Name: "xtrim.minid.eq", Command: "xtrim", Setup: s5, Run: []Cmd{{"XTRIM", "{k}a", "MINID", "=", "1-3"}}},
		{Name: "xtrim.minid.approx", Command: "xtrim", Setup: s250, Run: []Cmd{{"XTRIM", "{k}a", "MINID", "~", "1-150"}}},
		{Name: "xtrim.keepref", Command: "xtrim", Setup: withGroup(), Run: []Cmd{{"XTRIM", "{k}a", "MAXLEN", "1", "KEEPREF"}}},
		{Name: "xtrim.delref", Command: "xtrim", Setup: withGroup(), Run: []Cmd{{"XTRIM", "{k}a", "MAXLEN", "1", "DELREF"}}},
		{Name: "xtrim.acked", Command: "xtrim", Setup: withGroup(), Run: []Cmd{{"XTRIM", "{k}a", "MAXLEN", "1", "ACKED"}}},
		{Name: "xdel", Command: "xdel", Setup: s5, Run: []Cmd{{"XDEL", "{k}a", "1-2", "1-5", "9-9"}}},
		{Name: "xdel.pending", Command: "xdel", Setup: withGroup(), Run: []Cmd{{"XDEL", "{k}a", "1-1"}}},
		{Name: "xdelex", Command: "xdelex", Setup: withGroup(), Run: []Cmd{{"XDELEX", "{k}a", "IDS", "2", "1-1", "1-4"}}},
		{Name: "xdelex.keepref", Command: "xdelex", Setup: withGroup(), Run: []Cmd{{"XDELEX", "{k}a", "KEEPREF", "IDS", "2", "1-1", "1-4"}}},
		{Name: "xdelex.delref", Command: "xdelex", Setup: withGroup(), Run: []Cmd{{"XDELEX", "{k}a", "DELREF", "IDS", "2", "1-1", "1-4"}}},
		{Name: "xdelex.acked", Command: "xdelex", Setup: withGroup(), Run: []Cmd{{"XDELEX", "{k}a", "ACKED", "IDS", "2", "1-1", "1-4"}}},
		{Name: "xsetid", Command: "xsetid", Setup: s5, Run: []Cmd{{"XSETID", "{k}a", "7-7"}}},
		{Name: "xsetid.entriesadded.maxdeletedid", Command: "xsetid", Setup: s5, Run: []Cmd{{"XSETID", "{k}a", "7-7", "ENTRIESADDED", "20", "MAXDELETEDID", "6-0"}}},
		{Name: "xcfgset", Command: "xcfgset", Setup: s5, Run: []Cmd{{"XCFGSET", "{k}a", "IDMP-DURATION", "120", "IDMP-MAXSIZE", "50"}}},
		{Name: "xcfgset.then.idmp", Command: "xcfgset", Setup: s5, Run: []Cmd{
			{"XCFGSET", "{k}a", "IDMP-MAXSIZE", "2"},
			{"XADD", "{k}a", "IDMP", "p", "i1", "*", "f", "1"},
			{"XADD", "{k}a", "IDMP", "p", "i2", "*", "f", "2"},
			{"XADD", "{k}a", "IDMP", "p", "i3", "*", "f", "3"},
		}},
		{Name: "xidmprecord", Command: "xidmprecord", Setup: s5, Run: []Cmd{{"XIDMPRECORD", "{k}a", "p1", "i1", "1-3"}}},
	}
	return es
}

// Consumer group writes: XGROUP's subcommands, XREADGROUP (propagated as
// XCLAIM … and XGROUP SETID), XACK, XACKDEL, XCLAIM with every option and
// XAUTOCLAIM, including claims of deleted entries (whose meaning changed
// in 7.0).
func streamGroupEntries() []Entry {
	s5 := []Cmd{fillStream("5")}
	g := withGroup()
	withDeleted := append(withGroup(), Cmd{"XDEL", "{k}a", "1-2"})
	return []Entry{
		{Name: "xgroup.create", Command: "xgroup|create", Setup: s5, Run: []Cmd{{"XGROUP", "CREATE", "{k}a", "g", "0"}}},
		{Name: "xgroup.create.last", Command: "xgroup|create", Setup: s5, Run: []Cmd{{"XGROUP", "CREATE", "{k}a", "g", "$"}}},
		{Name: "xgroup.create.mkstream", Command: "xgroup|create", Run: []Cmd{{"XGROUP", "CREATE", "{k}a", "g", "$", "MKSTREAM"}}},
		{Name: "xgroup.create.entriesread", Command: "xgroup|create", Setup: s5, Run: []Cmd{{"XGROUP", "CREATE", "{k}a", "g", "1-2", "ENTRIESREAD", "2"}}},
		{Name: "xgroup.setid", Command: "xgroup|setid", Setup: g, Run: []Cmd{{"XGROUP", "SETID", "{k}a", "g", "1-1"}}},
		{Name: "xgroup.setid.last", Command: "xgroup|setid", Setup: g, Run: []Cmd{{"XGROUP", "SETID", "{k}a", "g", "$"}}},
		{Name: "xgroup.setid.entriesread", Command: "xgroup|setid", Setup: g, Run: []Cmd{{"XGROUP", "SETID", "{k}a", "g", "1-4", "ENTRIESREAD", "4"}}},
		{Name: "xgroup.createconsumer", Command: "xgroup|createconsumer", Setup: g, Run: []Cmd{{"XGROUP", "CREATECONSUMER", "{k}a", "g", "c2"}}},
		{Name: "xgroup.delconsumer", Command: "xgroup|delconsumer", Setup: g, Run: []Cmd{{"XGROUP", "DELCONSUMER", "{k}a", "g", "c1"}}},
		{Name: "xgroup.destroy", Command: "xgroup|destroy", Setup: g, Run: []Cmd{{"XGROUP", "DESTROY", "{k}a", "g"}}},
		{Name: "xreadgroup", Command: "xreadgroup", Setup: g, Run: []Cmd{{"XREADGROUP", "GROUP", "g", "c2", "COUNT", "1", "STREAMS", "{k}a", ">"}}},
		{Name: "xreadgroup.all", Command: "xreadgroup", Setup: g, Run: []Cmd{{"XREADGROUP", "GROUP", "g", "c2", "STREAMS", "{k}a", ">"}}},
		{Name: "xreadgroup.noack", Command: "xreadgroup", Setup: g, Run: []Cmd{{"XREADGROUP", "GROUP", "g", "c2", "NOACK", "STREAMS", "{k}a", ">"}}},
		{Name: "xreadgroup.block", Command: "xreadgroup", Setup: g, Run: []Cmd{{"XREADGROUP", "GROUP", "g", "c2", "BLOCK", "1000", "COUNT", "1", "STREAMS", "{k}a", ">"}}},
		{Name: "xreadgroup.history", Command: "xreadgroup", Setup: g, Run: []Cmd{{"XREADGROUP", "GROUP", "g", "c1", "STREAMS", "{k}a", "0"}}},
		{Name: "xreadgroup.claim", Command: "xreadgroup", Setup: g, Run: []Cmd{{"XREADGROUP", "GROUP", "g", "c2", "CLAIM", "0", "STREAMS", "{k}a", ">"}}},
		{Name: "xreadgroup.history.deleted", Command: "xreadgroup", Setup: withDeleted, Run: []Cmd{{"XREADGROUP", "GROUP", "g", "c1", "STREAMS", "{k}a", "0"}}},
		{Name: "xack", Command: "xack", Setup: g, Run: []Cmd{{"XACK", "{k}a", "g", "1-1", "1-3", "9-9"}}},
		{Name: "xackdel", Command: "xackdel", Setup: g, Run: []Cmd{{"XACKDEL", "{k}a", "g", "IDS", "2", "1-1", "1-2"}}},
		{Name: "xackdel.keepref", Command: "xackdel", Setup: g, Run: []Cmd{{"XACKDEL", "{k}a", "g", "KEEPREF", "IDS", "1", "1-1"}}},
		{Name: "xackdel.delref", Command: "xackdel", Setup: g, Run: []Cmd{{"XACKDEL", "{k}a", "g", "DELREF", "IDS", "1", "1-1"}}},
		{Name: "xackdel.acked", Command: "xackdel", Setup: g, Run: []Cmd{{"XACKDEL", "{k}a", "g", "ACKED", "IDS", "1", "1-1"}}},
		{Name: "xclaim", Command: "xclaim", Setup: g, Run: []Cmd{{"XCLAIM", "{k}a", "g", "c2", "0", "1-1", "1-2"}}},
		{Name: "xclaim.idle.retrycount", Command: "xclaim", Setup: g, Run: []Cmd{{"XCLAIM", "{k}a", "g", "c2", "0", "1-1", "IDLE", "5000", "RETRYCOUNT", "7"}}},
		{Name: "xclaim.time", Command: "xclaim", Setup: g, Run: []Cmd{{"XCLAIM", "{k}a", "g", "c2", "0", "1-2", "TIME", "{unixms-60000}"}}},
		{Name: "xclaim.force", Command: "xclaim", Setup: g, Run: []Cmd{{"XCLAIM", "{k}a", "g", "c2", "0", "1-5", "FORCE"}}},
		{Name: "xclaim.justid", Command: "xclaim", Setup: g, Run: []Cmd{{"XCLAIM", "{k}a", "g", "c2", "0", "1-1", "JUSTID"}}},
		{Name: "xclaim.lastid", Command: "xclaim", Setup: g, Run: []Cmd{{"XCLAIM", "{k}a", "g", "c2", "0", "1-3", "LASTID", "1-5"}}},
		{Name: "xclaim.deleted", Command: "xclaim", Setup: withDeleted, Run: []Cmd{{"XCLAIM", "{k}a", "g", "c2", "0", "1-1", "1-2"}}},
		{Name: "xautoclaim", Command: "xautoclaim", Setup: g, Run: []Cmd{{"XAUTOCLAIM", "{k}a", "g", "c2", "0", "0-0"}}},
		{Name: "xautoclaim.count", Command: "xautoclaim", Setup: g, Run: []Cmd{{"XAUTOCLAIM", "{k}a", "g", "c2", "0", "0-0", "COUNT", "1"}}},
		{Name: "xautoclaim.justid", Command: "xautoclaim", Setup: g, Run: []Cmd{{"XAUTOCLAIM", "{k}a", "g", "c2", "0", "1-2", "JUSTID"}}},
		{Name: "xautoclaim.deleted", Command: "xautoclaim", Setup: withDeleted, Run: []Cmd{{"XAUTOCLAIM", "{k}a", "g", "c2", "0", "0-0"}}},
	}
}
