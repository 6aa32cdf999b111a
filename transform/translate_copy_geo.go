package transform

import (
	"github.com/redferry/redferry/pkg/server"
)

func copyGeoRows() []translation {
	return []translation{
		{command: "copy", form: "COPY src dst [DB n] [REPLACE]", from: "Redis 6.2+, Valkey (only when it copied)",
			takes: "Redis 6.2+, Valkey", into: "an EVAL: DUMP src, PTTL src, [SELECT n], RESTORE dst [REPLACE]; into a cluster with src and dst in different slots: COPY as it is, which the cluster target carries out (DUMP, PTTL, RESTORE)",
			accepts: server.Info.Copy, rewrite: (*Translator).copyKey},
		{command: "geosearchstore", form: "GEOSEARCHSTORE dst src … BYPOLYGON …", from: "Valkey 9.0+",
			takes: "Valkey 9.0+", into: "error: polygon search",
			match:   func(a [][]byte) bool { return hasFlag(a, 3, "bypolygon") },
			accepts: server.Info.GeoPolygon,
			rewrite: func(t *Translator, c *call) error { return t.fail(c, "GEOSEARCHSTORE BYPOLYGON") }},
		{command: "geosearchstore", form: "GEOSEARCHSTORE dst src FROMMEMBER m|FROMLONLAT lon lat BYRADIUS r unit|BYBOX w h unit …", from: "Redis 6.2+, Valkey",
			takes: "Redis 6.2+, Valkey", into: "GEORADIUSBYMEMBER|GEORADIUS src … STORE|STOREDIST dst; BYBOX: an EVAL with the servers' distance formula (into a cluster with dst and src in different slots: run in dst's slot on a copy of src); COUNT … ANY: error",
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
	if t.splitsSlots(args[1], args[2]) {
		return t.pass(c) // the cluster sink copies it (translate_cluster.go)
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
			if hasFlag(args, 3, "any") {
				return t.fail(c, "GEOSEARCHSTORE COUNT … ANY")
			}
			return t.script(c, t.storeScript(geoBoxScript, args[1], args[2]), 2)
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

// geoBoxScript is GEOSEARCHSTORE KEYS[1] KEYS[2] FROMMEMBER m|FROMLONLAT lon
// lat BYBOX w h unit [ASC|DESC] [COUNT n] [STOREDIST] for targets before
// 6.2, with the formulas of Redis 7.0+ (geohash_helper.c): a member is in
// the box when its distance in latitude from the centre is at most h/2 and,
// along its own latitude, its distance from the centre's longitude at most
// w/2; positions are the ones GEOPOS decodes, as the servers use them.
const geoBoxScript = "local R = 6372797.560856 local function rad(d) return d * (math.pi / 180.0) end " +
	"local function latdist(a, b) return R * math.abs(rad(b) - rad(a)) end " +
	"local function dist(lon1, lat1, lon2, lat2) local v = math.sin((rad(lon2) - rad(lon1)) / 2) " +
	"if v == 0.0 then return latdist(lat1, lat2) end local u = math.sin((rad(lat2) - rad(lat1)) / 2) " +
	"local a = u * u + math.cos(rad(lat1)) * math.cos(rad(lat2)) * v * v return 2.0 * R * math.asin(math.sqrt(a)) end " +
	"local units = {m = 1, km = 1000, ft = 0.3048, mi = 1609.34} " +
	"local lon, lat, w, h, unit, order, count, storedist, i = nil, nil, nil, nil, 1, nil, 0, false, 1 " +
	"while i <= #ARGV do local a = string.upper(ARGV[i]) " +
	"if a == 'FROMMEMBER' then local p = redis.call('GEOPOS', KEYS[2], ARGV[i + 1])[1] " +
	"if not p then return redis.error_reply('could not decode requested zset member') end lon, lat = tonumber(p[1]), tonumber(p[2]) i = i + 2 " +
	"elseif a == 'FROMLONLAT' then lon, lat = tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]) i = i + 3 " +
	"elseif a == 'BYBOX' then unit = units[string.lower(ARGV[i + 3])] w, h = tonumber(ARGV[i + 1]) * unit, tonumber(ARGV[i + 2]) * unit i = i + 4 " +
	"elseif a == 'ASC' or a == 'DESC' then order = a i = i + 1 elseif a == 'COUNT' then count = tonumber(ARGV[i + 1]) i = i + 2 " +
	"elseif a == 'STOREDIST' then storedist = true i = i + 1 else return redis.error_reply('syntax error') end end " +
	"if count > 0 and not order then order = 'ASC' end " +
	"local found, members = {}, redis.call('ZRANGE', KEYS[2], 0, -1) " +
	"for j = 1, #members, 500 do local chunk = {unpack(members, j, math.min(j + 499, #members))} " +
	"local ps = redis.call('GEOPOS', KEYS[2], unpack(chunk)) for k, p in ipairs(ps) do if p then " +
	"local x, y = tonumber(p[1]), tonumber(p[2]) " +
	"if latdist(y, lat) <= h / 2 and dist(x, y, lon, y) <= w / 2 then found[#found + 1] = {chunk[k], dist(lon, lat, x, y)} end end end end " +
	"if order == 'ASC' then table.sort(found, function(a, b) return a[2] < b[2] end) " +
	"elseif order == 'DESC' then table.sort(found, function(a, b) return a[2] > b[2] end) end " +
	"if count > 0 and #found > count then for j = #found, count + 1, -1 do found[j] = nil end end " +
	"redis.call('DEL', KEYS[1]) if #found == 0 then return 0 end local out = {} " +
	"for _, f in ipairs(found) do out[#out + 1] = storedist and f[2] / unit or redis.call('ZSCORE', KEYS[2], f[1]) out[#out + 1] = f[1] end " +
	"for j = 1, #out, 1000 do redis.call('ZADD', KEYS[1], unpack(out, j, math.min(j + 999, #out))) end return #found"
