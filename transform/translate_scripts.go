package transform

// Lua scripts that give a target the effect of a command it lacks. The
// target holds the same data as the source had at that offset, so a script
// that evaluates the command's conditions there decides as the source did.

// luaStreamIDLess defines idless(a, b): stream id a < b. Ids are compared
// as decimal strings (64-bit parts do not fit Lua's numbers); "ms" is "ms-0".
const luaStreamIDLess = "local function idparts(id) local ms, seq = id, '0' local d = string.find(id, '-', 1, true) " +
	"if d then ms, seq = string.sub(id, 1, d - 1), string.sub(id, d + 1) end " +
	"return (string.gsub(ms, '^0+', '')), (string.gsub(seq, '^0+', '')) end " +
	"local function numless(a, b) if #a ~= #b then return #a < #b end return a < b end " +
	"local function idless(a, b) local am, as = idparts(a) local bm, bs = idparts(b) " +
	"if am ~= bm then return numless(am, bm) end return numless(as, bs) end "

// minIDScript is XTRIM KEYS[1] MINID = ARGV[1] for targets before 6.2: it
// deletes the entries whose id is less than ARGV[1], oldest first.
const minIDScript = luaStreamIDLess +
	"local n = 0 while true do " +
	"local es = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 100) local more = #es > 0 " +
	"for _, e in ipairs(es) do if idless(e[1], ARGV[1]) then redis.call('XDEL', KEYS[1], e[1]) n = n + 1 " +
	"else more = false break end end " +
	"if not more then break end end return n"

// xclaimScript gives XCLAIM key group consumer min-idle id… [options] the
// meaning of Redis 7.0+ on an older target: ids whose entry was deleted
// leave the PEL (XACK) instead of moving to the consumer.
const xclaimScript = "local ids, i = {}, 4 " +
	"while i <= #ARGV and string.match(ARGV[i], '^%d+%-?%d*$') do " +
	"if #redis.call('XRANGE', KEYS[1], ARGV[i], ARGV[i]) == 0 then redis.call('XACK', KEYS[1], ARGV[1], ARGV[i]) " +
	"else ids[#ids+1] = ARGV[i] end i = i + 1 end " +
	"if #ids == 0 then return {} end " +
	"local args = {'XCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3]} " +
	"for _, id in ipairs(ids) do args[#args+1] = id end " +
	"for j = i, #ARGV do args[#args+1] = ARGV[j] end " +
	"return redis.call(unpack(args))"

// luaScore defines num(s): a score as Redis reads it (inf, +inf, -inf too).
const luaScore = "local function num(s) local l = string.lower(s) " +
	"if l == 'inf' or l == '+inf' then return math.huge elseif l == '-inf' then return -math.huge end " +
	"return tonumber(s) end "

// luaZAddAll defines zaddall(key, t): ZADD key of t's score, member pairs,
// 500 pairs at a time (unpack has a limit).
const luaZAddAll = "local function zaddall(k, t) for i = 1, #t, 1000 do " +
	"redis.call('ZADD', k, unpack(t, i, math.min(i + 999, #t))) end end "

// zaddGTLTScript is ZADD KEYS[1] ARGV… with GT or LT for targets before 6.2:
// a member is updated only when its new score is greater (GT) or less (LT)
// than its current one, and added unless XX.
const zaddGTLTScript = luaScore +
	"local xx, gt, lt, incr, i = false, false, false, false, 1 " +
	"while i <= #ARGV do local a = string.upper(ARGV[i]) " +
	"if a == 'XX' then xx = true elseif a == 'GT' then gt = true elseif a == 'LT' then lt = true " +
	"elseif a == 'INCR' then incr = true elseif a ~= 'NX' and a ~= 'CH' then break end i = i + 1 end " +
	"for j = i, #ARGV - 1, 2 do local score, member = ARGV[j], ARGV[j + 1] " +
	"local cur = redis.call('ZSCORE', KEYS[1], member) " +
	"if not cur then if not xx then redis.call('ZADD', KEYS[1], score, member) end " +
	"else local c, new = num(cur), num(score) if incr then new = c + new end " +
	"if (gt and new > c) or (lt and new < c) then " +
	"if incr then redis.call('ZINCRBY', KEYS[1], score, member) else redis.call('ZADD', KEYS[1], score, member) end " +
	"end end end return 1"

// zrangeStoreScript is ZRANGESTORE KEYS[1] KEYS[2] min max [BYSCORE|BYLEX]
// [REV] [LIMIT offset count] for targets before 6.2.
const zrangeStoreScript = luaZAddAll +
	"local by, rev, limit = '', false, nil local i = 3 " +
	"while i <= #ARGV do local a = string.upper(ARGV[i]) " +
	"if a == 'BYSCORE' or a == 'BYLEX' then by = a elseif a == 'REV' then rev = true " +
	"elseif a == 'LIMIT' then limit = {'LIMIT', ARGV[i + 1], ARGV[i + 2]} i = i + 2 end i = i + 1 end " +
	"local r, out = nil, {} " +
	"if by == '' then r = redis.call(rev and 'ZREVRANGE' or 'ZRANGE', KEYS[2], ARGV[1], ARGV[2], 'WITHSCORES') " +
	"if limit then return redis.error_reply('ZRANGESTORE: LIMIT needs BYSCORE or BYLEX') end " +
	"elseif by == 'BYSCORE' then local args = {KEYS[2], ARGV[1], ARGV[2], 'WITHSCORES'} " +
	"if limit then for _, x in ipairs(limit) do args[#args + 1] = x end end " +
	"r = redis.call(rev and 'ZREVRANGEBYSCORE' or 'ZRANGEBYSCORE', unpack(args)) " +
	"else local args = {KEYS[2], ARGV[1], ARGV[2]} if limit then for _, x in ipairs(limit) do args[#args + 1] = x end end " +
	"local ms = redis.call(rev and 'ZREVRANGEBYLEX' or 'ZRANGEBYLEX', unpack(args)) r = {} " +
	"for _, m in ipairs(ms) do r[#r + 1] = m r[#r + 1] = redis.call('ZSCORE', KEYS[2], m) end end " +
	"for j = 1, #r, 2 do out[#out + 1] = r[j + 1] out[#out + 1] = r[j] end " +
	"redis.call('DEL', KEYS[1]) zaddall(KEYS[1], out) return #out / 2"

// zdiffStoreScript is ZDIFFSTORE KEYS[1] with the members of KEYS[2] (a
// sorted set or a set) that none of KEYS[3…] has, for targets before 6.2.
const zdiffStoreScript = luaZAddAll +
	"local function kind(k) return redis.call('TYPE', k)['ok'] end " +
	"local function has(k, m) local t = kind(k) if t == 'zset' then return redis.call('ZSCORE', k, m) ~= false " +
	"elseif t == 'set' then return redis.call('SISMEMBER', k, m) == 1 end return false end " +
	"local first, r = kind(KEYS[2]), {} " +
	"if first == 'zset' then r = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES') " +
	"elseif first == 'set' then for _, m in ipairs(redis.call('SMEMBERS', KEYS[2])) do r[#r + 1] = m r[#r + 1] = '1' end end " +
	"local out = {} for j = 1, #r, 2 do local keep = true " +
	"for k = 3, #KEYS do if has(KEYS[k], r[j]) then keep = false break end end " +
	"if keep then out[#out + 1] = r[j + 1] out[#out + 1] = r[j] end end " +
	"redis.call('DEL', KEYS[1]) zaddall(KEYS[1], out) return #out / 2"

// luaStreamGroups defines groups(k), the consumer groups of stream k with
// their last delivered id, referenced(k, gs, id): some group has id in its
// PEL or has not read it yet, and unref(k, gs, id): XACK id in every group.
const luaStreamGroups = luaStreamIDLess +
	"local function groups(k) local gs = {} for _, g in ipairs(redis.call('XINFO', 'GROUPS', k)) do " +
	"local f = {} for i = 1, #g, 2 do f[g[i]] = g[i + 1] end gs[#gs + 1] = {name = f['name'], last = f['last-delivered-id']} end " +
	"return gs end " +
	"local function referenced(k, gs, id) for _, g in ipairs(gs) do " +
	"if idless(g.last, id) or #redis.call('XPENDING', k, g.name, id, id, 1) > 0 then return true end end return false end " +
	"local function unref(k, gs, id) for _, g in ipairs(gs) do redis.call('XACK', k, g.name, id) end end " +
	"local function delids(k, policy, ids) if redis.call('EXISTS', k) == 0 then return 0 end " +
	"local gs, n = groups(k), 0 for _, id in ipairs(ids) do " +
	"if policy ~= 'ACKED' or not referenced(k, gs, id) then n = n + redis.call('XDEL', k, id) " +
	"if policy == 'DELREF' then unref(k, gs, id) end end end return n end "

// xdelexScript is XDELEX KEYS[1] ARGV[1] (policy) IDS ARGV[2…].
const xdelexScript = luaStreamGroups +
	"local ids = {} for i = 2, #ARGV do ids[#ids + 1] = ARGV[i] end " +
	"return delids(KEYS[1], string.upper(ARGV[1]), ids)"

// xackdelScript is XACKDEL KEYS[1] ARGV[1] (group) ARGV[2] (policy) IDS ARGV[3…].
const xackdelScript = luaStreamGroups +
	"local ids = {} for i = 3, #ARGV do ids[#ids + 1] = ARGV[i] end " +
	"redis.call('XACK', KEYS[1], ARGV[1], unpack(ids)) " +
	"return delids(KEYS[1], string.upper(ARGV[2]), ids)"

// trimRefsScript is XTRIM KEYS[1] ARGV[1] (MAXLEN|MINID) = ARGV[2] ARGV[3]
// (DELREF|ACKED): from the oldest entry on, while the stream is longer than
// MAXLEN or the entry is before MINID, delete the entry (ACKED: only if no
// group references it; DELREF: and XACK it in every group). The entries
// deleted before the first one kept go by XTRIM MAXLEN, as on the source
// (which leaves max-deleted-entry-id alone); the later ones by XDEL.
const trimRefsScript = luaStreamGroups +
	"local k, maxlen, minid, policy = KEYS[1], nil, nil, string.upper(ARGV[3]) " +
	"if string.upper(ARGV[1]) == 'MAXLEN' then maxlen = tonumber(ARGV[2]) else minid = ARGV[2] end " +
	"if redis.call('EXISTS', k) == 0 then return 0 end " +
	"local gs, len, start = groups(k), redis.call('XLEN', k), '-' " +
	"local prefix, holes, gone, kept, left, done = 0, {}, {}, false, len, false " +
	"while not done do local es = redis.call('XRANGE', k, start, '+', 'COUNT', 100) " +
	"if #es == 0 or (start ~= '-' and #es == 1 and es[1][1] == start) then break end " +
	"for _, e in ipairs(es) do local id = e[1] if start == '-' or id ~= start then " +
	"if (maxlen and left <= maxlen) or (minid and not idless(id, minid)) then done = true break end " +
	"if policy ~= 'ACKED' or not referenced(k, gs, id) then left = left - 1 gone[#gone + 1] = id " +
	"if kept then holes[#holes + 1] = id else prefix = prefix + 1 end else kept = true end end end " +
	"start = es[#es][1] end " +
	"if prefix > 0 then redis.call('XTRIM', k, 'MAXLEN', '=', len - prefix) end " +
	"for _, id in ipairs(holes) do redis.call('XDEL', k, id) end " +
	"if policy == 'DELREF' then for _, id in ipairs(gone) do unref(k, gs, id) end end " +
	"return #gone"
