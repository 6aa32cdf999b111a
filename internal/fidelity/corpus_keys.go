package fidelity

import "strings"

// Generic key commands: deletes, expiries with every condition, renames,
// moves and copies between dbs, SORT … STORE.
func keyEntries() []Entry {
	two := []Cmd{{"SET", "{k}a", "1"}, {"RPUSH", "{k}b", "x", "y"}}
	ttl := []Cmd{{"SET", "{k}a", "v", "EX", "1800"}}
	es := []Entry{
		{Name: "del", Command: "del", Setup: two, Run: []Cmd{{"DEL", "{k}a", "{k}b", "{k}none"}}},
		{Name: "unlink", Command: "unlink", Setup: two, Run: []Cmd{{"UNLINK", "{k}a", "{k}b"}}},
		{Name: "persist", Command: "persist", Setup: ttl, Run: []Cmd{{"PERSIST", "{k}a"}}},
		{Name: "rename", Command: "rename", Setup: ttl, Run: []Cmd{{"RENAME", "{k}a", "{k}b"}}},
		{Name: "rename.overwrite", Command: "rename", Setup: append(ttl, Cmd{"RPUSH", "{k}b", "x"}), Run: []Cmd{{"RENAME", "{k}a", "{k}b"}}},
		{Name: "renamenx", Command: "renamenx", Setup: two, Run: []Cmd{{"RENAMENX", "{k}a", "{k}c"}, {"RENAMENX", "{k}b", "{k}c"}}},
		{Name: "move", Command: "move", Setup: ttl, Run: []Cmd{{"MOVE", "{k}a", "1"}}},
		{Name: "copy", Command: "copy", Setup: ttl, Run: []Cmd{{"COPY", "{k}a", "{k}b"}}},
		{Name: "copy.replace", Command: "copy", Setup: two, Run: []Cmd{{"COPY", "{k}b", "{k}a", "REPLACE"}}},
		{Name: "copy.db", Command: "copy", Setup: ttl, Run: []Cmd{{"COPY", "{k}a", "{k}a", "DB", "1"}}},
		{Name: "copy.stream", Command: "copy", Setup: withGroup(), Run: []Cmd{{"COPY", "{k}a", "{k}b"}}},
		{Name: "copy.hash.fieldttl", Command: "copy", Setup: []Cmd{{"HSET", "{k}a", "f1", "1", "f2", "2"}, {"HEXPIRE", "{k}a", "3600", "FIELDS", "1", "f1"}},
			Run: []Cmd{{"COPY", "{k}a", "{k}b"}}},
		{Name: "sort.store", Command: "sort", Setup: []Cmd{{"RPUSH", "{k}a", "3", "1", "2"}}, Run: []Cmd{{"SORT", "{k}a", "STORE", "{k}dst"}}},
		{Name: "sort.store.desc.limit", Command: "sort", Setup: []Cmd{{"RPUSH", "{k}a", "3", "1", "2", "5"}},
			Run: []Cmd{{"SORT", "{k}a", "LIMIT", "0", "3", "DESC", "STORE", "{k}dst"}}},
		{Name: "sort.store.alpha.asc", Command: "sort", Setup: []Cmd{{"SADD", "{k}a", "b", "c", "a"}}, Run: []Cmd{{"SORT", "{k}a", "ALPHA", "ASC", "STORE", "{k}dst"}}},
		{Name: "sort.store.by.get", Command: "sort", Setup: []Cmd{{"RPUSH", "{k}a", "1", "2"}, {"SET", "{k}w_1", "20"}, {"SET", "{k}w_2", "10"}, {"SET", "{k}o_1", "one"}, {"SET", "{k}o_2", "two"}},
			Run: []Cmd{{"SORT", "{k}a", "BY", "{k}w_*", "GET", "#", "GET", "{k}o_*", "STORE", "{k}dst"}}},
		// A key whose TTL lapses on the source is deleted there by the
		// server (propagated as DEL), not by a command.
		{Name: "expire.lapse", Command: "pexpire", Setup: []Cmd{{"SET", "{k}a", "v"}, {"SET", "{k}b", "v"}},
			Run: []Cmd{{"PEXPIRE", "{k}a", "20"}, {"@sleep", "150"}, {"GET", "{k}a"}}},
	}
	for _, c := range []struct{ name, cmd, ttl, past string }{
		{"expire", "EXPIRE", "3600", "-1"},
		{"pexpire", "PEXPIRE", "3600000", "-1"},
		{"expireat", "EXPIREAT", "{unix+3600}", "{unix-3600}"},
		{"pexpireat", "PEXPIREAT", "{unixms+3600000}", "{unixms-1000}"},
	} {
		es = append(es,
			Entry{Name: c.name, Command: c.name, Setup: []Cmd{{"SET", "{k}a", "v"}}, Run: []Cmd{{c.cmd, "{k}a", c.ttl}}},
			// A time in the past deletes the key (propagated as DEL).
			Entry{Name: c.name + ".past", Command: c.name, Setup: []Cmd{{"SET", "{k}a", "v"}}, Run: []Cmd{{c.cmd, "{k}a", c.past}}},
		)
		for _, cond := range []string{"NX", "XX", "GT", "LT"} {
			// Two keys: one with a TTL, one without, so each condition
			// applies to one and not the other.
			es = append(es, Entry{Name: c.name + "." + strings.ToLower(cond), Command: c.name,
				Setup: []Cmd{{"SET", "{k}a", "v", "EX", "1800"}, {"SET", "{k}b", "v"}},
				Run:   []Cmd{{c.cmd, "{k}a", c.ttl, cond}, {c.cmd, "{k}b", c.ttl, cond}}})
		}
	}
	return es
}

// RESTORE of DUMP payloads taken on the source, of every type, with every
// option. The payload carries the source's RDB version, which an older
// target may not read.
func restoreEntries() []Entry {
	payload := "{dump:{k}src}"
	str := []Cmd{{"SET", "{k}src", "value"}}
	es := []Entry{
		{Name: "restore", Command: "restore", Setup: str, Run: []Cmd{{"RESTORE", "{k}a", "0", payload}}},
		{Name: "restore.ttl", Command: "restore", Setup: str, Run: []Cmd{{"RESTORE", "{k}a", "3600000", payload}}},
		{Name: "restore.absttl", Command: "restore", Setup: str, Run: []Cmd{{"RESTORE", "{k}a", "{unixms+3600000}", payload, "ABSTTL"}}},
		{Name: "restore.replace", Command: "restore", Setup: append(str, Cmd{"RPUSH", "{k}a", "x"}), Run: []Cmd{{"RESTORE", "{k}a", "0", payload, "REPLACE"}}},
		{Name: "restore.idletime", Command: "restore", Setup: str, Run: []Cmd{{"RESTORE", "{k}a", "0", payload, "IDLETIME", "100"}}},
		{Name: "restore.freq", Command: "restore", Setup: str, Run: []Cmd{{"RESTORE", "{k}a", "0", payload, "FREQ", "5"}}},
		{Name: "restore-asking", Command: "restore-asking", Setup: str, Run: []Cmd{{"RESTORE-ASKING", "{k}a", "0", payload}}},
	}
	for _, t := range []struct {
		name  string
		setup []Cmd
	}{
		{"int", []Cmd{{"SET", "{k}src", "12345"}}},
		{"list", []Cmd{{"RPUSH", "{k}src", "a", "b", "c"}}},
		{"set", []Cmd{{"SADD", "{k}src", "a", "b", "c"}}},
		{"intset", []Cmd{{"SADD", "{k}src", "1", "2", "3"}}},
		{"zset", []Cmd{{"ZADD", "{k}src", "1", "a", "2.5", "b"}}},
		{"hash", []Cmd{{"HSET", "{k}src", "f1", "v1", "f2", "v2"}}},
		{"hash.fieldttl", []Cmd{{"HSET", "{k}src", "f1", "v1", "f2", "v2"}, {"HEXPIRE", "{k}src", "3600", "FIELDS", "1", "f1"}}},
		{"stream", withGroupAt("{k}src")},
		{"hll", []Cmd{{"PFADD", "{k}src", "a", "b", "c"}}},
		{"vectorset", []Cmd{{"VADD", "{k}src", "VALUES", "2", "1", "0", "e1"}, {"VADD", "{k}src", "VALUES", "2", "0", "1", "e2"}}},
	} {
		es = append(es, Entry{Name: "restore." + t.name, Command: "restore", Setup: t.setup, Run: []Cmd{{"RESTORE", "{k}a", "0", payload}}})
	}
	return es
}

// withGroupAt is withGroup on another key.
func withGroupAt(key string) []Cmd {
	out := withGroup()
	for i, c := range out {
		c = append(Cmd{}, c...)
		for j, a := range c {
			if a == "{k}a" {
				c[j] = key
			}
		}
		out[i] = c
	}
	return out
}
