package transform

// The write commands a source propagates, with where their keys are and
// what type those keys hold: the filter's command table. Taken from COMMAND
// on Redis 8.0 and Valkey 9.1 (write commands and their key specs), with the
// type each one works on. Commands a master never propagates in their own
// form (BLPOP, LMPOP, XREADGROUP, MIGRATE, … arrive as LPOP, XCLAIM, DEL)
// are left out: unknown commands cannot be filtered by key.

// cmdClass says how a command's keys and dbs are found.
type cmdClass uint8

const (
	classKeys     cmdClass = iota // keys at first, first+step, … up to last; all written
	classStore                    // the key at first is written (overwritten), the others only read
	classPair                     // src at 1 and dst at 2, both written (RENAME, SMOVE, LMOVE, RPOPLPUSH)
	classCopy                     // COPY src dst [DB n] [REPLACE]
	classMove                     // MOVE key db
	classRestore                  // RESTORE key ttl payload [REPLACE] …: the type is in the payload
	classSort                     // SORT key … [STORE dst]
	classGeoStore                 // GEORADIUS[BYMEMBER] key … STORE|STOREDIST dst
	classSelect                   // SELECT db
	classSwapDB                   // SWAPDB a b
	classFlushDB                  // FLUSHDB [ASYNC|SYNC]
	classFlushAll                 // FLUSHALL [ASYNC|SYNC]
	classGlobal                   // no key and no db (PUBLISH, FUNCTION, SCRIPT, MULTI, …)
	classScript                   // EVAL, FCALL: their keys and writes are not known
)

// cmdSpec describes one command.
type cmdSpec struct {
	class cmdClass
	typ   string // the type of the written key; "": any type
	// first, last, step: key positions; last < 0 counts from the end (-1:
	// the last argument); last 0 means last = first. numkeys > 0: the
	// argument at numkeys counts the keys that follow it (ZUNIONSTORE).
	first, last, step, numkeys int
	// split: a command with some of its keys left out keeps its meaning
	// for the others (DEL k1 k3 of DEL k1 k2 k3).
	split bool
	// overwrite: the command creates its (written) key whatever type the
	// key held before, so leaving it out for its type must delete the key.
	overwrite bool
	// readTypes: the types of the keys a store command reads.
	readTypes []string
}

func single(typ string) cmdSpec { return cmdSpec{class: classKeys, typ: typ, first: 1, step: 1} }

func multi(typ string, step int) cmdSpec {
	return cmdSpec{class: classKeys, typ: typ, first: 1, last: -1, step: step, split: true}
}

func store(typ string, first, last, numkeys int, read ...string) cmdSpec {
	return cmdSpec{class: classStore, typ: typ, first: first, last: last, step: 1, numkeys: numkeys, overwrite: true, readTypes: read}
}

func overwriting(s cmdSpec) cmdSpec { s.overwrite = true; return s }

var commandTable = map[string]cmdSpec{
	// strings (and HyperLogLogs, which are strings)
	"set": overwriting(single("string")), "setex": overwriting(single("string")), "psetex": overwriting(single("string")),
	"setnx": single("string"), "getset": single("string"), "getdel": single("string"), "getex": single("string"),
	"append": single("string"), "setrange": single("string"), "setbit": single("string"), "bitfield": single("string"),
	"incr": single("string"), "decr": single("string"), "incrby": single("string"), "decrby": single("string"),
	"incrbyfloat": single("string"), "pfadd": single("string"), "delifeq": single("string"),
	"mset":    overwriting(multi("string", 2)),
	"msetnx":  multi("string", 2), // propagated only when it set every key
	"pfcount": multi("string", 1), // propagated when it updates its cached count
	"pfmerge": {class: classStore, typ: "string", first: 1, last: -1, step: 1, readTypes: []string{"string"}},
	"bitop":   store("string", 2, -1, 0, "string"),

	// lists
	"lpush": single("list"), "rpush": single("list"), "lpushx": single("list"), "rpushx": single("list"),
	"linsert": single("list"), "lset": single("list"), "lrem": single("list"), "ltrim": single("list"),
	"lpop": single("list"), "rpop": single("list"),
	"rpoplpush": {class: classPair, typ: "list"}, "brpoplpush": {class: classPair, typ: "list"},
	"lmove": {class: classPair, typ: "list"}, "blmove": {class: classPair, typ: "list"},

	// sets
	"sadd": single("set"), "srem": single("set"), "spop": single("set"),
	"smove":       {class: classPair, typ: "set"},
	"sinterstore": store("set", 1, -1, 0, "set"), "sunionstore": store("set", 1, -1, 0, "set"),
	"sdiffstore": store("set", 1, -1, 0, "set"),

	// sorted sets (and geo, which are sorted sets)
	"zadd": single("zset"), "zincrby": single("zset"), "zrem": single("zset"), "zremrangebylex": single("zset"),
	"zremrangebyrank": single("zset"), "zremrangebyscore": single("zset"), "zpopmin": single("zset"),
	"zpopmax": single("zset"), "geoadd": single("zset"),
	"zunionstore": store("zset", 1, 0, 2, "zset", "set"), "zinterstore": store("zset", 1, 0, 2, "zset", "set"),
	"zdiffstore": store("zset", 1, 0, 2, "zset", "set"), "zrangestore": store("zset", 1, 2, 0, "zset"),
	"geosearchstore": store("zset", 1, 2, 0, "zset"),
	"georadius":      {class: classGeoStore, typ: "zset"}, "georadiusbymember": {class: classGeoStore, typ: "zset"},

	// hashes
	"hset": single("hash"), "hsetnx": single("hash"), "hmset": single("hash"), "hdel": single("hash"),
	"hincrby": single("hash"), "hincrbyfloat": single("hash"), "hexpire": single("hash"), "hpexpire": single("hash"),
	"hexpireat": single("hash"), "hpexpireat": single("hash"), "hpersist": single("hash"), "hsetex": single("hash"),
	"hgetex": single("hash"), "hgetdel": single("hash"),

	// streams
	"xadd": single("stream"), "xdel": single("stream"), "xtrim": single("stream"), "xack": single("stream"),
	"xclaim": single("stream"), "xautoclaim": single("stream"), "xsetid": single("stream"),
	"xgroup": {class: classKeys, typ: "stream", first: 2, step: 1},

	// module types (Redis 8 vector sets)
	"vadd": single("module"), "vrem": single("module"), "vsetattr": single("module"),

	// any type
	"expire": single(""), "pexpire": single(""), "expireat": single(""), "pexpireat": single(""),
	"persist": single(""),
	"del":     multi("", 1), "unlink": multi("", 1), "touch": multi("", 1),
	"rename": {class: classPair}, "renamenx": {class: classPair},
	"copy": {class: classCopy}, "move": {class: classMove},
	"restore": {class: classRestore}, "restore-asking": {class: classRestore},
	"sort": {class: classSort, typ: "list"},

	// dbs
	"select": {class: classSelect}, "swapdb": {class: classSwapDB},
	"flushdb": {class: classFlushDB}, "flushall": {class: classFlushAll},

	// neither keys nor dbs
	"ping": {class: classGlobal}, "replconf": {class: classGlobal}, "multi": {class: classGlobal},
	"exec": {class: classGlobal}, "publish": {class: classGlobal}, "spublish": {class: classGlobal},
	"function": {class: classGlobal}, "script": {class: classGlobal},

	// scripts replicated as they were called (Redis < 7.0 with lua-replicate-commands no)
	"eval": {class: classScript}, "evalsha": {class: classScript}, "eval_ro": {class: classScript},
	"evalsha_ro": {class: classScript}, "fcall": {class: classScript}, "fcall_ro": {class: classScript},
}

// keyIndexes returns the positions of the keys of a classKeys or
// classStore command, the written key first; nil when the arguments are
// too few (the target reports the error).
func (s cmdSpec) keyIndexes(args [][]byte) []int {
	first, last := s.first, s.last
	if first >= len(args) {
		return nil
	}
	switch {
	case s.numkeys > 0:
		if s.numkeys >= len(args) {
			return nil
		}
		n := atoiOr(args[s.numkeys], -1)
		if n < 0 || s.numkeys+n >= len(args) {
			return nil
		}
		out := []int{first}
		for i := 1; i <= n; i++ {
			out = append(out, s.numkeys+i)
		}
		return out
	case last == 0:
		last = first
	case last < 0:
		last = len(args) + last
	}
	if last >= len(args) {
		return nil
	}
	var out []int
	for i := first; i <= last; i += s.step {
		out = append(out, i)
	}
	return out
}

func atoiOr(b []byte, def int) int {
	if len(b) == 0 || len(b) > 9 {
		return def
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return def
		}
		n = n*10 + int(c-'0')
	}
	return n
}
