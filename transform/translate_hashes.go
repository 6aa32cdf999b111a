package transform

import (
	"strconv"

	"github.com/redferry/redferry/pkg/server"
	"github.com/redferry/redferry/pkg/unholdable"
)

func hashRows() []translation {
	rows := []translation{
		{command: "hsetex", form: "HSETEX k [FNX|FXX] KEEPTTL|PXAT t FIELDS n f v …", from: "Redis 8.0+, Valkey 9.0+ (Redis 8.0.3+ also HINCRBYFLOAT, as KEEPTTL)",
			takes: "Redis 8.0+, Valkey 9.0+", into: "KEEPTTL: HSET k f v … (no field there has a TTL to keep; FNX/FXX propagated only when they held); " +
				"a TTL, on a target without field TTLs: on-unholdable-field-ttl: stop (default), convert: HSET k f v …, skip: HDEL k f …",
			accepts: server.Info.HSetEx, rewrite: (*Translator).hsetex},
		{command: "hgetex", form: "HGETEX k … FIELDS n f …", from: "none (propagated as HPEXPIREAT, HPERSIST, HDEL)",
			takes: "Redis 8.0+, Valkey 9.0+", into: "on a target without field TTLs: on-unholdable-field-ttl: stop (default), convert: dropped, skip: HDEL k f …",
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
			takes: "Redis 7.4+, Valkey 9.0+", into: "on-unholdable-field-ttl: stop (default), convert: dropped (the fields stay, without a TTL), skip: HDEL k f …",
			accepts: server.Info.HashFieldTTL, rewrite: hashFieldTTL})
	}
	return rows
}

// hashFieldTTL: HEXPIRE … FIELDS n f … (and the like) on a target without
// field TTLs goes by on-unholdable-field-ttl: convert drops the command (the
// fields stay, without a TTL), skip deletes the fields (fields with a TTL
// are left out). A target with field TTLs but without HGETEX cannot take it.
func hashFieldTTL(t *Translator, c *call) error {
	if t.caps.HashFieldTTL() {
		return t.fail(c, "hash field TTL")
	}
	fields, ok := fieldsArg(c.args)
	if !ok {
		return t.pass(c) // the target reports the syntax error
	}
	a, err := t.unholdable(c, unholdable.FieldTTL, "hash field TTL")
	if err != nil || a == unholdable.Convert {
		return err
	}
	t.emit(c, append([][]byte{word("HDEL"), c.args[1]}, fields...)...)
	return nil
}

// fieldsArg returns the fields of "FIELDS n f …", the command's last
// arguments; ok is false when they are not there.
func fieldsArg(args [][]byte) (fields [][]byte, ok bool) {
	for i := 2; i+1 < len(args); i++ {
		if !is(args[i], "fields") {
			continue
		}
		n, err := strconv.Atoi(string(args[i+1]))
		if err != nil || n < 1 || i+2+n != len(args) {
			continue // a TTL or value that reads "fields"
		}
		return args[i+2:], true
	}
	return nil, false
}

// hsetex rewrites HSETEX key [FNX|FXX] [EX|PX|EXAT|PXAT t|KEEPTTL] FIELDS n
// f v … as HSET for targets without HSETEX. Redis 8.0.3+ propagates
// HINCRBYFLOAT this way (KEEPTTL), with no TTL involved. A TTL goes by
// on-unholdable-field-ttl where the target has no field TTLs: convert
// writes the fields without it, skip deletes them.
func (t *Translator) hsetex(c *call) error {
	args := c.args
	var ttl, keepTTL bool
	i := 2
	for ; i < len(args) && !is(args[i], "fields"); i++ {
		switch a := args[i]; {
		case isAny(a, "nx", "xx", "fnx", "fxx"):
		case is(a, "keepttl"):
			keepTTL = true
		case isAny(a, "ex", "px", "exat", "pxat"):
			ttl = true
			i++ // the time
		default:
			return t.pass(c) // the target reports the syntax error
		}
	}
	if i+1 >= len(args) {
		return t.pass(c)
	}
	n, err := strconv.Atoi(string(args[i+1]))
	if err != nil || n < 1 || i+2+2*n != len(args) {
		return t.pass(c)
	}
	pairs := args[i+2:]
	switch {
	case ttl && t.caps.HashFieldTTL():
		return t.fail(c, "HSETEX with a TTL without HSETEX")
	case keepTTL && t.caps.HashFieldTTL():
		// HSET would clear the fields' TTLs.
		return t.fail(c, "HSETEX KEEPTTL without HSETEX")
	case ttl:
		a, err := t.unholdable(c, unholdable.FieldTTL, "hash field TTL")
		if err != nil {
			return err
		}
		if a == unholdable.Skip {
			out := [][]byte{word("HDEL"), args[1]}
			for j := 0; j < len(pairs); j += 2 {
				out = append(out, pairs[j])
			}
			t.emit(c, out...)
			return nil
		}
	}
	t.emit(c, append([][]byte{word("HSET"), args[1]}, pairs...)...)
	return nil
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
