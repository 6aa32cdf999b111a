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
