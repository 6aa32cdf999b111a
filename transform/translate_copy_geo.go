package transform

import (
	"github.com/redferry/redferry/pkg/server"
)

func copyGeoRows() []translation {
	return []translation{
		{command: "copy", form: "COPY src dst [DB n] [REPLACE]", from: "Redis 6.2+, Valkey (only when it copied)",
			takes: "Redis 6.2+, Valkey", into: "an EVAL: DUMP src, PTTL src, [SELECT n], RESTORE dst [REPLACE]",
			accepts: server.Info.Copy, rewrite: (*Translator).copyKey},
		{command: "geosearchstore", form: "GEOSEARCHSTORE dst src … BYPOLYGON …", from: "Valkey 9.0+",
			takes: "Valkey 9.0+", into: "error: polygon search",
			match:   func(a [][]byte) bool { return hasFlag(a, 3, "bypolygon") },
			accepts: server.Info.GeoPolygon,
			rewrite: func(t *Translator, c *call) error { return t.fail(c, "GEOSEARCHSTORE BYPOLYGON") }},
		{command: "geosearchstore", form: "GEOSEARCHSTORE dst src FROMMEMBER m|FROMLONLAT lon lat BYRADIUS r unit …", from: "Redis 6.2+, Valkey",
			takes: "Redis 6.2+, Valkey", into: "GEORADIUSBYMEMBER|GEORADIUS src … STORE|STOREDIST dst; BYBOX, COUNT … ANY: error",
			accepts: server.Info.GeoSearch, rewrite: (*Translator).geoSearchStore},
	}
}

// copyScript is COPY KEYS[1] KEYS[2] for targets before 6.2: ARGV[1] the
// destination db ("" for the current one), ARGV[2] "REPLACE" or "".
const copyScript = "local d = redis.call('DUMP', KEYS[1]) if not d then return 0 end " +
	"local ttl = redis.call('PTTL', KEYS[1]) if ttl < 0 then ttl = 0 end " +
	"if ARGV[1] ~= '' then redis.call('SELECT', ARGV[1]) end " +
	"if ARGV[2] == 'REPLACE' then redis.call('RESTORE', KEYS[2], ttl, d, 'REPLACE') " +
	"else redis.call('RESTORE', KEYS[2], ttl, d) end return 1"

func (t *Translator) copyKey(c *call) error {
	args := c.args
	if len(args) < 3 {
		return t.pass(c)
	}
	var db, replace []byte
	for i := 3; i < len(args); i++ {
		switch {
		case is(args[i], "db") && i+1 < len(args):
			db = args[i+1]
			i++
		case is(args[i], "replace"):
			replace = word("REPLACE")
		default:
			return t.pass(c) // the target reports the syntax error
		}
	}
	t.emit(c, word("EVAL"), word(copyScript), word("2"), args[1], args[2], db, replace)
	return nil
}

// geoSearchStore rewrites GEOSEARCHSTORE dst src FROMMEMBER m|FROMLONLAT lon
// lat BYRADIUS r unit [ASC|DESC] [COUNT n] [STOREDIST] as GEORADIUS…STORE.
func (t *Translator) geoSearchStore(c *call) error {
	args := c.args
	if len(args) < 3 {
		return t.pass(c)
	}
	var from, radius, order, count [][]byte
	store := word("STORE")
	for i := 3; i < len(args); i++ {
		a := args[i]
		switch {
		case is(a, "frommember") && i+1 < len(args):
			from, i = args[i+1:i+2], i+1
		case is(a, "fromlonlat") && i+2 < len(args):
			from, i = args[i+1:i+3], i+2
		case is(a, "byradius") && i+2 < len(args):
			radius = [][]byte{args[i+1], lower(nil, args[i+2])} // 6.0 knows lower-case units only
			i += 2
		case is(a, "bybox"):
			return t.fail(c, "GEOSEARCHSTORE BYBOX")
		case isAny(a, "asc", "desc"):
			order = [][]byte{a}
		case is(a, "count") && i+1 < len(args):
			count, i = args[i:i+2], i+1
		case is(a, "any"):
			return t.fail(c, "GEOSEARCHSTORE COUNT … ANY")
		case is(a, "storedist"):
			store = word("STOREDIST")
		default:
			return t.pass(c) // the target reports the syntax error
		}
	}
	if from == nil || radius == nil {
		return t.pass(c)
	}
	out := [][]byte{word("GEORADIUS"), args[2]}
	if len(from) == 1 {
		out[0] = word("GEORADIUSBYMEMBER")
	}
	out = append(out, from...)
	out = append(out, radius...)
	out = append(out, order...)
	out = append(out, count...)
	t.emit(c, append(out, store, args[1])...)
	return nil
}
