package fidelity

import "strings"

// Hash commands without field TTLs.
func hashEntries() []Entry {
	h := []Cmd{{"HSET", "{k}a", "f1", "1", "f2", "2.5", "f3", "three"}}
	return []Entry{
		{Name: "hset", Command: "hset", Run: []Cmd{{"HSET", "{k}a", "f1", "v1", "f2", "v2"}}},
		{Name: "hset.update", Command: "hset", Setup: h, Run: []Cmd{{"HSET", "{k}a", "f1", "new", "f9", "v9"}}},
		{Name: "hsetnx", Command: "hsetnx", Setup: h, Run: []Cmd{{"HSETNX", "{k}a", "f1", "no"}, {"HSETNX", "{k}a", "f4", "yes"}}},
		{Name: "hmset", Command: "hmset", Run: []Cmd{{"HMSET", "{k}a", "f1", "v1", "f2", "v2"}}},
		{Name: "hdel", Command: "hdel", Setup: h, Run: []Cmd{{"HDEL", "{k}a", "f1", "nope"}}},
		{Name: "hdel.last", Command: "hdel", Setup: []Cmd{{"HSET", "{k}a", "f", "v"}}, Run: []Cmd{{"HDEL", "{k}a", "f"}}},
		{Name: "hincrby", Command: "hincrby", Setup: h, Run: []Cmd{{"HINCRBY", "{k}a", "f1", "-5"}}},
		// HINCRBYFLOAT propagates as HSET with the exact result.
		{Name: "hincrbyfloat", Command: "hincrbyfloat", Setup: h, Run: []Cmd{{"HINCRBYFLOAT", "{k}a", "f2", "0.1"}}},
		{Name: "hincrbyfloat.new", Command: "hincrbyfloat", Run: []Cmd{{"HINCRBYFLOAT", "{k}a", "f", "1e-3"}}},
	}
}

// Hash field TTLs (Redis 7.4+, Valkey 9.0+): HEXPIRE and friends with every
// condition, HPERSIST, and the 8.0 commands that set or read-and-change
// field TTLs (HSETEX, HGETEX, HGETDEL).
func hashFieldTTLEntries() []Entry {
	h := []Cmd{{"HSET", "{k}a", "f1", "1", "f2", "2", "f3", "3"}}
	withTTL := []Cmd{{"HSET", "{k}a", "f1", "1", "f2", "2", "f3", "3"}, {"HEXPIRE", "{k}a", "1800", "FIELDS", "1", "f1"}}
	var es []Entry
	for _, c := range []struct{ name, cmd, ttl string }{
		{"hexpire", "HEXPIRE", "3600"},
		{"hpexpire", "HPEXPIRE", "3600000"},
		{"hexpireat", "HEXPIREAT", "{unix+3600}"},
		{"hpexpireat", "HPEXPIREAT", "{unixms+3600000}"},
	} {
		es = append(es, Entry{Name: c.name, Command: c.name, Setup: h, Run: []Cmd{{c.cmd, "{k}a", c.ttl, "FIELDS", "2", "f1", "nope"}}})
		for _, cond := range []string{"NX", "XX", "GT", "LT"} {
			es = append(es, Entry{Name: c.name + "." + strings.ToLower(cond), Command: c.name, Setup: withTTL,
				Run: []Cmd{{c.cmd, "{k}a", c.ttl, cond, "FIELDS", "2", "f1", "f2"}}})
		}
	}
	es = append(es,
		// A TTL in the past deletes the fields (propagated as HDEL).
		Entry{Name: "hexpire.zero", Command: "hexpire", Setup: h, Run: []Cmd{{"HEXPIRE", "{k}a", "0", "FIELDS", "1", "f2"}}},
		Entry{Name: "hpexpireat.past.all", Command: "hpexpireat", Setup: h, Run: []Cmd{{"HPEXPIREAT", "{k}a", "{unixms-1000}", "FIELDS", "3", "f1", "f2", "f3"}}},
		Entry{Name: "hpersist", Command: "hpersist", Setup: withTTL, Run: []Cmd{{"HPERSIST", "{k}a", "FIELDS", "2", "f1", "f2"}}},
		// A field that expires on the source is deleted there by the
		// server (propagated as HDEL), not by a command.
		Entry{Name: "hpexpire.lapse", Command: "hpexpire", Setup: h,
			Run: []Cmd{{"HPEXPIRE", "{k}a", "20", "FIELDS", "1", "f3"}, {"@sleep", "150"}, {"HGETALL", "{k}a"}}},
	)
	hsetex := func(name string, setup []Cmd, opts ...string) Entry {
		run := append(Cmd{"HSETEX", "{k}a"}, opts...)
		run = append(run, "FIELDS", "2", "f1", "new1", "f4", "new4")
		return Entry{Name: name, Command: "hsetex", Setup: setup, Run: []Cmd{run}}
	}
	es = append(es,
		hsetex("hsetex", nil),
		hsetex("hsetex.ex", h, "EX", "3600"),
		hsetex("hsetex.px", h, "PX", "3600000"),
		hsetex("hsetex.exat", h, "EXAT", "{unix+3600}"),
		hsetex("hsetex.pxat", h, "PXAT", "{unixms+3600000}"),
		hsetex("hsetex.keepttl", withTTL, "KEEPTTL"),
		hsetex("hsetex.fnx", []Cmd{{"HSET", "{k}a", "f2", "2"}}, "FNX", "EX", "3600"),
		hsetex("hsetex.fxx", withTTL, "FXX", "PX", "3600000"),
		hsetex("hsetex.fxx.nomatch", h, "FXX"),
		// Valkey's key conditions.
		hsetex("hsetex.nx", nil, "NX", "EX", "3600"),
		hsetex("hsetex.xx", h, "XX", "KEEPTTL"),
	)
	hgetex := func(name string, setup []Cmd, opts ...string) Entry {
		run := append(Cmd{"HGETEX", "{k}a"}, opts...)
		run = append(run, "FIELDS", "2", "f1", "f2")
		return Entry{Name: name, Command: "hgetex", Setup: setup, Run: []Cmd{run}}
	}
	es = append(es,
		hgetex("hgetex.ex", h, "EX", "3600"),
		hgetex("hgetex.px", h, "PX", "3600000"),
		hgetex("hgetex.exat", h, "EXAT", "{unix+3600}"),
		hgetex("hgetex.pxat", h, "PXAT", "{unixms+3600000}"),
		hgetex("hgetex.persist", withTTL, "PERSIST"),
		hgetex("hgetex.exat.past", h, "EXAT", "{unix-100}"),
		Entry{Name: "hgetdel", Command: "hgetdel", Setup: h, Run: []Cmd{{"HGETDEL", "{k}a", "FIELDS", "2", "f1", "nope"}}},
		Entry{Name: "hgetdel.last", Command: "hgetdel", Setup: []Cmd{{"HSET", "{k}a", "f1", "1"}}, Run: []Cmd{{"HGETDEL", "{k}a", "FIELDS", "1", "f1"}}},
	)
	return es
}
