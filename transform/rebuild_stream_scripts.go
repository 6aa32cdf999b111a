package transform

// Lua scripts that rebuild, by commands, the pending entries of a stream
// whose message is gone (deleted or trimmed away with its whole listpack
// node). A consumer group's pending entry can only be created by XCLAIM of
// an entry that exists (FORCE included, on 6.0 through 8.6 and Valkey 9.1),
// and XADD cannot add an entry below the stream's last id: so when a
// claim finds no message, the stream is copied, in id order, into a fresh
// key with a stand-in entry ("ghost") at each missing id, the groups are
// copied along (their pending entries with their exact delivery times and
// counts, from XINFO STREAM FULL), the ghosts are claimed, and the copy
// replaces the stream. Only a stream with such a pending entry pays for it.
//
// Keys of the scripts: the stream (K), the ghost records (Z: a sorted set of
// the claims that found no message), the copy (C) and the entries to remove
// once the groups are rebuilt (D: a sorted set of padded ids).
//
// Ids sort as 40-digit strings (ms and seq padded to 20 digits): Lua's
// numbers cannot hold 64-bit parts.

// luaStreamPad defines pad(id) and unpad(p).
const luaStreamPad = "local function pad(id) local d = string.find(id, '-', 1, true) " +
	"local ms, seq = string.sub(id, 1, d - 1), string.sub(id, d + 1) " +
	"return string.rep('0', 20 - #ms) .. ms .. string.rep('0', 20 - #seq) .. seq end " +
	"local function trim0(s) s = string.gsub(s, '^0+', '') if s == '' then return '0' end return s end " +
	"local function unpad(p) return trim0(string.sub(p, 1, 20)) .. '-' .. trim0(string.sub(p, 21, 40)) end "

// claimScript claims pending entries for one consumer: KEYS[1] the stream,
// KEYS[2] the ghost records; ARGV group, consumer, then runs of entries with
// the same delivery time and count: time, count, how many, their ids. Each
// run is one XCLAIM; its JUSTID reply lists the ids it claimed in the order
// given, so an id missing from it found no message: it is recorded in
// KEYS[2] as pad(id) .. #group:group #consumer:consumer time:count.
// It returns the number recorded.
const claimScript = luaStreamPad +
	"local g, c, n, i = ARGV[1], ARGV[2], 0, 3 " +
	"while i <= #ARGV do local t, k, m = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]) " +
	"local a = {'XCLAIM', KEYS[1], g, c, 0} for j = 1, m do a[5 + j] = ARGV[i + 2 + j] end " +
	"a[#a + 1] = 'TIME' a[#a + 1] = t a[#a + 1] = 'RETRYCOUNT' a[#a + 1] = k a[#a + 1] = 'FORCE' a[#a + 1] = 'JUSTID' " +
	"local r, x = redis.call(unpack(a)), 1 " +
	"for j = 1, m do local id = ARGV[i + 2 + j] if r[x] == id then x = x + 1 " +
	"else redis.call('ZADD', KEYS[2], 0, pad(id) .. #g .. ':' .. g .. #c .. ':' .. c .. t .. ':' .. k) n = n + 1 end end " +
	"i = i + 3 + m end return n"

// luaFlatMap defines tomap(t): a RESP2 flat key/value array as a table.
const luaFlatMap = "local function tomap(t) local m = {} for i = 1, #t, 2 do m[t[i]] = t[i + 1] end return m end "

// luaGhostRecord defines record(m): the id, group, consumer, time and count
// of a ghost record.
const luaGhostRecord = "local function field(m, pos) local c = string.find(m, ':', pos, true) " +
	"local n = tonumber(string.sub(m, pos, c - 1)) return string.sub(m, c + 1, c + n), c + n + 1 end " +
	"local function record(m) local g, pos = field(m, 41) local c, pos2 = field(m, pos) " +
	"local rest = string.sub(m, pos2) local d = string.find(rest, ':', 1, true) " +
	"return unpad(string.sub(m, 1, 40)), g, c, string.sub(rest, 1, d - 1), string.sub(rest, d + 1) end "

// repairScript does one bounded step of the copy (ARGV[1] "step") or all
// that is left of it ("finish"). KEYS: K, Z, C, D. ARGV[2] the most entries
// a step copies, ARGV[3] the most bytes; ARGV[4] "1" where the target has
// XGROUP CREATECONSUMER, ARGV[5] "1" where it has ENTRIESREAD; ARGV[6] the
// stream's last id.
//
// The stages, each found from the keys (so that a step needs no cursor):
//  0. no C: create C with K's groups and consumers;
//  1. K has entries or Z records: move the next entries of K to C in id
//     order, adding a ghost at each recorded id and claiming it as recorded
//     (the ghost is listed in D);
//  2. K's groups have pending entries: claim them on C with their delivery
//     time and count from XINFO STREAM FULL, and XACK them on K;
//  3. set C's last id and its groups' last delivered ids and entries-read
//     from K, and RENAME C K.
const repairScript = luaStreamPad + luaFlatMap + luaGhostRecord +
	"local K, Z, C, D = KEYS[1], KEYS[2], KEYS[3], KEYS[4] " +
	"local N, B = tonumber(ARGV[2]), tonumber(ARGV[3]) " +
	"local function num(x) return string.format('%.0f', x) end " +
	"local function addall(key, id, fields) local a = {'XADD', key, id} " +
	"for _, f in ipairs(fields) do a[#a + 1] = f end return redis.call(unpack(a)) end " +
	"local function groups() local out = {} for _, g in ipairs(redis.call('XINFO', 'GROUPS', K)) do out[#out + 1] = tomap(g) end return out end " +
	// stage 0
	"local function create() for _, g in ipairs(groups()) do " +
	"redis.call('XGROUP', 'CREATE', C, g['name'], '0', 'MKSTREAM') " +
	"for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', K, g['name'])) do local name = tomap(c)['name'] " +
	"if ARGV[4] == '1' then redis.call('XGROUP', 'CREATECONSUMER', C, g['name'], name) " +
	"else redis.call('XREADGROUP', 'GROUP', g['name'], name, 'COUNT', 1, 'STREAMS', C, '18446744073709551615-0') end end end " +
	"if redis.call('EXISTS', C) == 0 then redis.call('XGROUP', 'CREATE', C, 'redferry-tmp', '0', 'MKSTREAM') " +
	"redis.call('XGROUP', 'DESTROY', C, 'redferry-tmp') end end " +
	// stage 1
	"local function merge() local es = redis.call('XRANGE', K, '-', '+', 'COUNT', N) " +
	"local gs = redis.call('ZRANGE', Z, 0, N - 1) local i, j, done, bytes, last = 1, 1, 0, 0, '' " +
	"local moved, added, used = {}, {}, {} " +
	"while done < N and bytes < B do local e, g = es[i], gs[j] local ghost " +
	"if e and g then ghost = string.sub(g, 1, 40) < pad(e[1]) elseif g then ghost = #es < N else ghost = false end " +
	"if ghost then local id, grp, con, t, n = record(g) " +
	"if string.sub(g, 1, 40) ~= last then redis.call('XADD', C, id, 'redferry-ghost', '') " +
	"last = string.sub(g, 1, 40) added[#added + 1] = 0 added[#added + 1] = last end " +
	"redis.call('XCLAIM', C, grp, con, 0, id, 'TIME', t, 'RETRYCOUNT', n, 'FORCE', 'JUSTID') " +
	"used[#used + 1] = g j = j + 1 " +
	"elseif e then addall(C, e[1], e[2]) moved[#moved + 1] = e[1] " +
	"for _, f in ipairs(e[2]) do bytes = bytes + #f end i = i + 1 " +
	"else break end done = done + 1 end " +
	"if #moved > 0 then redis.call('XDEL', K, unpack(moved)) end " +
	"if #added > 0 then redis.call('ZADD', D, unpack(added)) end " +
	"if #used > 0 then redis.call('ZREM', Z, unpack(used)) end end " +
	// stage 2
	"local function pending() local info = tomap(redis.call('XINFO', 'STREAM', K, 'FULL', 'COUNT', N)) local moved = 0 " +
	"for _, graw in ipairs(info['groups']) do local g = tomap(graw) local ids = {} " +
	"for _, p in ipairs(g['pending']) do " +
	"local r = redis.call('XCLAIM', C, g['name'], p[2], 0, p[1], 'TIME', num(p[3]), 'RETRYCOUNT', num(p[4]), 'FORCE', 'JUSTID') " +
	"if #r == 0 then return redis.error_reply('redferry: stream copy lost the message of pending entry ' .. p[1]) end " +
	"ids[#ids + 1] = p[1] end " +
	"if #ids > 0 then redis.call('XACK', K, g['name'], unpack(ids)) moved = moved + #ids end end " +
	"return moved end " +
	// stage 3
	"local function finish() redis.call('XSETID', C, ARGV[6]) for _, g in ipairs(groups()) do " +
	"local a = {'XGROUP', 'SETID', C, g['name'], g['last-delivered-id']} " +
	"if ARGV[5] == '1' and g['entries-read'] then a[#a + 1] = 'ENTRIESREAD' a[#a + 1] = num(g['entries-read']) end " +
	"redis.call(unpack(a)) end redis.call('RENAME', C, K) end " +
	"local function step() " +
	"if redis.call('EXISTS', C) == 0 then if redis.call('EXISTS', Z) == 0 then return 0 end create() return 1 end " +
	"if redis.call('XLEN', K) > 0 or redis.call('EXISTS', Z) == 1 then merge() return 1 end " +
	"local moved = pending() if type(moved) == 'table' then return moved end if moved > 0 then return 1 end " +
	"finish() return 1 end " +
	"local r = step() if ARGV[1] == 'finish' then while r == 1 do r = step() end end return r"

// drainScript removes from KEYS[1] the entries listed in KEYS[2] (padded
// ids), lowest first, at most ARGV[1] of them (-1: all). Those that are
// the stream's first entries are trimmed away (XTRIM MAXLEN), which leaves
// the max-deleted-entry-id as it is; the others are XDELed (once one is
// not at the head, none after it is). A stream whose
// max-deleted-entry-id is 0-0 lost its first entries to trimming, and
// XSETID cannot set 0-0 back once an XDEL raised it.
const drainScript = luaStreamPad +
	"local lim, n = tonumber(ARGV[1]), 0 " +
	"while lim < 0 or n < lim do " +
	"local ms = redis.call('ZRANGE', KEYS[2], 0, lim < 0 and 99 or math.min(99, lim - n - 1)) if #ms == 0 then break end " +
	// The first k listed are the stream's first k entries: one trim.
	"local f, k = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', #ms), 0 " +
	"while k < #ms and f[k + 1] and f[k + 1][1] == unpad(ms[k + 1]) do k = k + 1 end " +
	"if k > 0 then redis.call('XTRIM', KEYS[1], 'MAXLEN', redis.call('XLEN', KEYS[1]) - k) " +
	"else local ids = {} for _, m in ipairs(ms) do ids[#ids + 1] = unpad(m) end redis.call('XDEL', KEYS[1], unpack(ids)) k = #ms end " +
	"redis.call('ZREM', KEYS[2], unpack(ms, 1, k)) n = n + k end return n"
