package transform

import (
	"strconv"

	"github.com/redferry/redferry/pkg/server"
)

func hashRows() []translation {
	rows := []translation{
		{command: "hsetex", form: "HSETEX k [FNX|FXX] KEEPTTL FIELDS n f v …", from: "Redis 8.0+, Valkey 9.0+ (Redis 8.0.3+ also HINCRBYFLOAT, as KEEPTTL)",
			takes: "Redis 8.0+, Valkey 9.0+", into: "HSET k f v … (no field there has a TTL to keep; FNX/FXX propagated only when they held)",
			accepts: server.Info.HSetEx, rewrite: (*Translator).hsetex},
		{command: "hgetex", form: "HGETEX k … FIELDS n f …", from: "none (propagated as HPEXPIREAT, HPERSIST, HDEL)",
			takes: "Redis 8.0+, Valkey 9.0+", into: "error: hash field TTL",
			accepts: server.Info.HSetEx, rewrite: hashFieldTTL},
		{command: "hpersist", form: "HPERSIST k FIELDS n f …", from: "Redis 8.0+, Valkey 9.0+ (also HGETEX … PERSIST)",
			takes: "Redis 7.4+, Valkey 9.0+", into: "dropped: no field there has a TTL",
			accepts: server.Info.HashFieldTTL, rewrite: func(t *Translator, c *call) error { return nil }},
		{command: "hgetdel", form: "HGETDEL k FIELDS n f …", from: "Valkey 9.1 (Redis 8: as HDEL)",
			takes: "Redis 8.0+, Valkey 9.1+", into: "HDEL k f …",
			accepts: server.Info.HGetDel, rewrite: (*Translator).hgetdel},
	}
	for _, name := range []string{"hexpire", "hpexpire", "hexpireat", "hpexpireat"} {
		rows = append(rows, translation{command: name, form: upper(name) + " k t FIELDS n f …",
			from:  "Redis 8.0+, Valkey 9.0+ (as HPEXPIREAT; a past time as HDEL)",
			takes: "Redis 7.4+, Valkey 9.0+", into: "error: hash field TTL",
			accepts: server.Info.HashFieldTTL, rewrite: hashFieldTTL})
	}
	return rows
}

func hashFieldTTL(t *Translator, c *call) error { return t.fail(c, "hash field TTL") }

// hsetex rewrites HSETEX key [NX|XX] [FNX|FXX] [KEEPTTL] FIELDS n f v … as
// HSET for targets without HSETEX. A TTL (EX/PX/EXAT/PXAT) cannot be held
// there. Redis 8.0.3+ propagates HINCRBYFLOAT this way (KEEPTTL), with no TTL
// involved.
func (t *Translator) hsetex(c *call) error {
	args := c.args
	for i := 2; i < len(args); i++ {
		a := args[i]
		switch {
		case isAny(a, "nx", "xx", "fnx", "fxx"):
		case is(a, "keepttl"):
			if t.caps.HashFieldTTL() {
				// HSET would clear the fields' TTLs.
				return t.fail(c, "HSETEX KEEPTTL without HSETEX")
			}
		case isAny(a, "ex", "px", "exat", "pxat"):
			return hashFieldTTL(t, c)
		case is(a, "fields") && i+1 < len(args):
			n, err := strconv.Atoi(string(args[i+1]))
			if err != nil || n < 1 || i+2+2*n != len(args) {
				return t.pass(c) // the target reports the syntax error
			}
			out := append([][]byte{word("HSET"), args[1]}, args[i+2:]...)
			t.emit(c, out...)
			return nil
		default:
			return t.pass(c)
		}
	}
	return t.pass(c)
}

// hgetdel turns HGETDEL key FIELDS n f… into HDEL key f….
func (t *Translator) hgetdel(c *call) error {
	args := c.args
	if len(args) < 5 || !is(args[2], "fields") {
		return t.pass(c)
	}
	out := append([][]byte{word("HDEL"), args[1]}, args[4:]...)
	t.emit(c, out...)
	return nil
}
