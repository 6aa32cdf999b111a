package transform

// xclaimKeepScript is XCLAIM KEYS[1] group consumer min-idle id… [options]
// (ARGV) of a Redis 6.x source on a Redis 7.0+ or Valkey target.
//
// 6.x moves a pending entry whose message was deleted (or trimmed) to the
// claiming consumer, and propagates one XCLAIM … FORCE JUSTID per id. 7.0+
// drops such an entry from the PEL instead (XCLAIM, FORCE included, and
// XAUTOCLAIM need the message), as native replication from 6.x does. No
// 7.0+ command moves a pending entry without its message, and XADD takes no
// id at or below the last one, so the script gives the message back for the
// time of the claim:
//
//  1. the entries above the id are read and removed (the entries after the
//     deleted one; all of them when none is left below it, which XTRIM
//     MAXLEN 0 removes without touching max-deleted-entry-id);
//  2. XSETID lowers the last id to the one just before the id (and
//     max-deleted-entry-id with it: XSETID refuses a last id below it);
//  3. XADD adds a placeholder message with the id, XCLAIM moves the pending
//     entry as the source did (TIME, RETRYCOUNT, LASTID as propagated), and
//     the placeholder goes again (XDEL, or XTRIM MAXLEN 0 when it is alone);
//  4. the entries removed are added again with their ids and fields, and
//     XSETID restores last-generated-id, entries-added and
//     max-deleted-entry-id.
//
// XDEL and XADD leave the groups, their PELs and consumers alone, so the
// stream ends as the source's, at a cost of reading and re-adding the
// entries above the id (for a trimmed id, the whole stream) within the
// script. Ids whose message exists go by one plain XCLAIM.
//
// A target stream rebuilt from a 6.x snapshot has max-deleted-entry-id 0-0
// (6.x does not record it) even where entries were deleted, and no command
// sets 0-0 back (XSETID ignores MAXDELETEDID 0-0). There the placeholder's
// XDEL leaves the highest claimed id as max-deleted-entry-id: true of the
// source, which deleted that message, and what a 7.0+ replica would hold had
// it seen the XDEL. The id 0-1 cannot be claimed so (no last id below it can
// be set): the script changes nothing and fails naming the key and the id,
// and the sync stops.
const xclaimKeepScript = luaStreamIDLess +
	// pred(id): the stream id just below id ("ms-seq"), nil for 0-0 and 0-1's
	// predecessor 0-0.
	"local function decstr(s) local t, i = {}, #s for j = 1, #s do t[j] = string.sub(s, j, j) end " +
	"while t[i] == '0' do t[i] = '9' i = i - 1 end t[i] = tostring(tonumber(t[i]) - 1) " +
	"local r = string.gsub(table.concat(t), '^0+', '') if r == '' then r = '0' end return r end " +
	"local function pred(id) local ms, seq = id, '0' local d = string.find(id, '-', 1, true) " +
	"if d then ms, seq = string.sub(id, 1, d - 1), string.sub(id, d + 1) end " +
	"ms = string.gsub(ms, '^0+', '') seq = string.gsub(seq, '^0+', '') if ms == '' then ms = '0' end " +
	"if seq ~= '' then return ms .. '-' .. decstr(seq) end " +
	"if ms == '0' then return nil end return decstr(ms) .. '-18446744073709551615' end " +
	"local k, g, ids, opts, i = KEYS[1], ARGV[1], {}, {}, 4 " +
	"while i <= #ARGV and string.match(ARGV[i], '^%d+%-?%d*$') do ids[#ids + 1] = ARGV[i] i = i + 1 end " +
	"for j = i, #ARGV do opts[#opts + 1] = ARGV[j] end " +
	"local function claim(list) if #list == 0 then return {} end " +
	"local a = {'XCLAIM', k, g, ARGV[2], ARGV[3]} for _, x in ipairs(list) do a[#a + 1] = x end " +
	"for _, o in ipairs(opts) do a[#a + 1] = o end return redis.call(unpack(a)) end " +
	"local live, gone = {}, {} " +
	"for _, x in ipairs(ids) do if #redis.call('XRANGE', k, x, x) == 0 " +
	"and #redis.call('XPENDING', k, g, x, x, 1) > 0 then gone[#gone + 1] = x else live[#live + 1] = x end end " +
	"if #gone == 0 then return claim(live) end " +
	"local info, f = redis.call('XINFO', 'STREAM', k), {} for j = 1, #info - 1, 2 do f[info[j]] = info[j + 1] end " +
	"local last, added, maxdel = f['last-generated-id'], f['entries-added'], f['max-deleted-entry-id'] " +
	"local function fail(x, why) return redis.error_reply('redferry: XCLAIM ' .. k .. ' ' .. g .. ' ' .. ARGV[2] .. " +
	"': pending entry ' .. x .. ' has no message (deleted); the Redis 6.x source moved it to consumer ' .. ARGV[2] .. " +
	"' and redferry moves it by adding its message back for the claim, but ' .. why .. '. Nothing of the XCLAIM was applied; " +
	"a new snapshot (or redferry restore) copies the key exactly') end " +
	"for _, x in ipairs(gone) do " +
	"local p = pred(x) if not p or p == '0-0' and maxdel ~= '0-0' then return fail(x, 'no id is below it') end end " +
	"local keepdel = maxdel " +
	"for _, x in ipairs(gone) do " +
	"local tail, from = {}, '(' .. x " +
	"while true do local es = redis.call('XRANGE', k, from, '+', 'COUNT', 1000) " +
	"for _, e in ipairs(es) do tail[#tail + 1] = e end if #es < 1000 then break end from = '(' .. es[#es][1] end " +
	"local alone = #redis.call('XREVRANGE', k, '(' .. x, '-', 'COUNT', 1) == 0 " +
	"if alone then redis.call('XTRIM', k, 'MAXLEN', 0) " +
	"else for j = 1, #tail, 500 do local d = {'XDEL', k} " +
	"for m = j, math.min(j + 499, #tail) do d[#d + 1] = tail[m][1] end redis.call(unpack(d)) end end " +
	"local p = pred(x) local cur = redis.call('XINFO', 'STREAM', k) local md = '0-0' " +
	"for j = 1, #cur - 1, 2 do if cur[j] == 'max-deleted-entry-id' then md = cur[j + 1] end end " +
	"if idless(p, md) then redis.call('XSETID', k, last, 'MAXDELETEDID', p) end " +
	"redis.call('XSETID', k, p) " +
	"redis.call('XADD', k, x, 'redferry', 'placeholder for a pending entry whose message was deleted') " +
	"claim({x}) " +
	"if alone then redis.call('XTRIM', k, 'MAXLEN', 0) else redis.call('XDEL', k, x) " +
	"if maxdel == '0-0' and (keepdel == '0-0' or idless(keepdel, x)) then keepdel = x end end " +
	"for _, e in ipairs(tail) do redis.call('XADD', k, e[1], unpack(e[2])) end " +
	"local set = {'XSETID', k, last, 'ENTRIESADDED', added} " +
	"if keepdel ~= '0-0' then set[#set + 1] = 'MAXDELETEDID' set[#set + 1] = keepdel end redis.call(unpack(set)) end " +
	"return claim(live)"
