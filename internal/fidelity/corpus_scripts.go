package fidelity

import "strings"

// libraryCode is a function library named after its entry: {lib}_incr
// increments KEYS[1] and pushes ARGV[1] to KEYS[2].
const libraryCode = "#!lua name={lib}\n" +
	"redis.register_function('{lib}_incr', function(keys, args)\n" +
	"  redis.call('RPUSH', keys[2], args[1])\n" +
	"  return redis.call('INCR', keys[1])\n" +
	"end)\n"

// libraryCodeV2 replaces libraryCode (FUNCTION LOAD REPLACE).
const libraryCodeV2 = "#!lua name={lib}\n" +
	"redis.register_function('{lib}_incr', function(keys, args)\n" +
	"  return redis.call('INCRBY', keys[1], 2)\n" +
	"end)\n"

// Scripts, transactions and pub/sub: no write flag of their own, but what
// they propagate (the script's effects, MULTI … EXEC, the message) must
// arrive like any write.
func scriptEntries() []Entry {
	const script = "redis.call('INCRBY', KEYS[1], ARGV[1]) redis.call('RPUSH', KEYS[2], ARGV[2]) " +
		"redis.call('HSET', KEYS[3], 'f', redis.call('GET', KEYS[1])) return 1"
	return []Entry{
		{Name: "eval", Command: "eval", Run: []Cmd{{"EVAL", script, "3", "{k}a", "{k}b", "{k}c", "5", "x"}}},
		// A script that fails after writing keeps (and propagates) its writes.
		{Name: "eval.error.after.write", Command: "eval", AllowErrors: true,
			Run:   []Cmd{{"EVAL", "redis.call('SET', KEYS[1], 'x') return redis.call('INCR', KEYS[2])", "2", "{k}a", "{k}b"}},
			Setup: []Cmd{{"SET", "{k}b", "not-a-number"}}},
		// Non-deterministic commands in a script: only the effects are the
		// same on a replica.
		{Name: "eval.spop.time", Command: "eval", Setup: []Cmd{{"SADD", "{k}s", "a", "b", "c"}},
			Run: []Cmd{{"EVAL", "local t = redis.call('TIME') redis.call('SET', KEYS[1], t[1]) return redis.call('SPOP', KEYS[2])", "2", "{k}a", "{k}s"}}},
		{Name: "eval.expire", Command: "eval", Setup: []Cmd{{"SET", "{k}a", "v"}},
			Run: []Cmd{{"EVAL", "return redis.call('EXPIRE', KEYS[1], 3600)", "1", "{k}a"}}},
		{Name: "evalsha", Command: "evalsha", Setup: []Cmd{{"SCRIPT", "LOAD", "return redis.call('SET', KEYS[1], ARGV[1])"}},
			Run: []Cmd{{"EVALSHA", "{sha1:return redis.call('SET', KEYS[1], ARGV[1])}", "1", "{k}a", "v"}}},
		{Name: "script.load", Command: "script|load", Run: []Cmd{{"SCRIPT", "LOAD", "return 'fidelity'"}, {"SET", "{k}marker", "1"}}},
		{Name: "multi", Command: "multi", Run: []Cmd{{"MULTI"}, {"SET", "{k}a", "1"}, {"INCR", "{k}a"}, {"RPUSH", "{k}b", "x"}, {"EXPIRE", "{k}b", "3600"}, {"EXEC"}}},
		// EXEC runs every queued command; one failing at run time does not
		// undo the others.
		{Name: "multi.runtime.error", Command: "multi", AllowErrors: true,
			Setup: []Cmd{{"SET", "{k}s", "text"}},
			Run:   []Cmd{{"MULTI"}, {"SET", "{k}a", "1"}, {"INCR", "{k}s"}, {"RPUSH", "{k}b", "x"}, {"EXEC"}}},
		{Name: "multi.select", Command: "multi", Run: []Cmd{{"MULTI"}, {"SET", "{k}a", "db0"}, {"SELECT", "2"}, {"SET", "{k}a", "db2"}, {"SELECT", "0"}, {"EXEC"}}},
		{Name: "publish", Command: "publish", Run: []Cmd{{"PUBLISH", "{k}channel", "message"}, {"SET", "{k}marker", "1"}}},
		{Name: "spublish", Command: "spublish", Run: []Cmd{{"SPUBLISH", "{k}channel", "message"}, {"SET", "{k}marker", "1"}}},
	}
}

// Functions (7.0+). Libraries are server-wide: each entry loads its own
// ({lib}); FUNCTION FLUSH and RESTORE touch every library, so they run
// isolated.
func functionEntries() []Entry {
	load := []Cmd{{"FUNCTION", "LOAD", libraryCode}}
	return []Entry{
		{Name: "function.load", Command: "function|load", Run: load},
		{Name: "function.load.replace", Command: "function|load", Setup: load, Run: []Cmd{{"FUNCTION", "LOAD", "REPLACE", libraryCodeV2}}},
		{Name: "function.delete", Command: "function|delete", Setup: load, Run: []Cmd{{"FUNCTION", "DELETE", "{lib}"}}},
		{Name: "fcall", Command: "fcall", Setup: load, Run: []Cmd{{"FCALL", "{lib}_incr", "2", "{k}a", "{k}b", "x"}}},
		{Name: "function.restore.replace", Command: "function|restore", Isolated: true, Setup: load,
			Run: []Cmd{{"FUNCTION", "RESTORE", "{functiondump}", "REPLACE"}}},
		{Name: "function.restore.append", Command: "function|restore", Isolated: true,
			Setup: []Cmd{{"FUNCTION", "LOAD", libraryCode}, {"@functiondump"}, {"FUNCTION", "FLUSH"}},
			Run:   []Cmd{{"FUNCTION", "RESTORE", "{functiondump}", "APPEND"}}},
		{Name: "function.restore.flush", Command: "function|restore", Isolated: true, Setup: load,
			Run: []Cmd{{"FUNCTION", "RESTORE", "{functiondump}", "FLUSH"}}},
		{Name: "function.flush", Command: "function|flush", Isolated: true, Setup: load, Run: []Cmd{{"FUNCTION", "FLUSH"}}},
		{Name: "function.flush.sync", Command: "function|flush", Isolated: true, Setup: load, Run: []Cmd{{"FUNCTION", "FLUSH", "SYNC"}}},
		{Name: "function.flush.async", Command: "function|flush", Isolated: true, Setup: load, Run: []Cmd{{"FUNCTION", "FLUSH", "ASYNC"}}},
	}
}

// Whole-database commands. FLUSHDB and SWAPDB run in databases of their
// own; FLUSHALL empties everything, so it runs isolated, last.
func dbEntries() []Entry {
	fill := []Cmd{{"SET", "{k}a", "1"}, {"RPUSH", "{k}b", "x"}}
	return []Entry{
		{Name: "select.write", Command: "select", DB: 3, Run: []Cmd{{"SET", "{k}a", "in-db3"}}},
		{Name: "flushdb", Command: "flushdb", DB: 4, Setup: fill, Run: []Cmd{{"FLUSHDB"}}},
		{Name: "flushdb.sync", Command: "flushdb", DB: 5, Setup: fill, Run: []Cmd{{"FLUSHDB", "SYNC"}}},
		{Name: "flushdb.async", Command: "flushdb", DB: 6, Setup: fill, Run: []Cmd{{"FLUSHDB", "ASYNC"}}},
		{Name: "swapdb", Command: "swapdb", DB: 7, Setup: append(fill, Cmd{"SELECT", "8"}, Cmd{"SET", "{k}c", "in-db8"}, Cmd{"SELECT", "7"}),
			Run: []Cmd{{"SWAPDB", "7", "8"}}},
		{Name: "flushall", Command: "flushall", Isolated: true, Setup: fill, Run: []Cmd{{"FLUSHALL"}}},
		{Name: "flushall.sync", Command: "flushall", Isolated: true, Setup: fill, Run: []Cmd{{"FLUSHALL", "SYNC"}}},
		{Name: "flushall.async", Command: "flushall", Isolated: true, Setup: fill, Run: []Cmd{{"FLUSHALL", "ASYNC"}}},
	}
}

// Commands that are not data writes a sync could carry: each is covered by
// an entry that says why it is not replayed.
func notReplayedEntries() []Entry {
	why := map[string]string{
		"migrate":           "moves keys to another server: seen by the source as DEL, covered by del",
		"cluster|flushslot": "cluster mode only (Valkey 9): redferry syncs standalone sources",
		"trimslots":         "cluster mode only (Redis 8.4+): redferry syncs standalone sources",
		"shutdown":          "stops the source",
		"debug":             "server debugging, not data",
		"replicaof":         "changes the source's role",
		"slaveof":           "changes the source's role",
		"failover":          "changes the source's role",
		"module":            "loads server code; module data types are a snapshot concern",
		"acl":               "server users, not data",
		"config":            "server settings, not data",
		"save":              "writes the RDB file, no data change",
		"bgsave":            "writes the RDB file, no data change",
		"bgrewriteaof":      "rewrites the AOF, no data change",
	}
	out := make([]Entry, 0, len(why))
	for cmd, reason := range why {
		out = append(out, Entry{Name: "admin." + strings.ReplaceAll(cmd, "|", "."), Command: cmd, NotReplayed: reason})
	}
	sortByName(out)
	return out
}
