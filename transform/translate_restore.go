package transform

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redferry/redferry/rdbparse"
)

func restoreRows() []translation {
	var rows []translation
	for _, name := range []string{"restore", "restore-asking"} {
		rows = append(rows, translation{command: name,
			form:  upper(name) + " k ttl payload [ABSTTL] [REPLACE] [IDLETIME s|FREQ f]",
			from:  "all (a relative TTL as ABSTTL; also MIGRATE into the source)",
			takes: "targets whose RESTORE reads the payload's RDB version (server.Info.AcceptsRDB)",
			into: "the same RESTORE, the value re-encoded as in a snapshot (RDB types the target loads, its RDB version); a value that cannot be (hash field TTLs, a stream's idempotent ids): " +
				"rebuilt by commands as in a snapshot (DEL first with REPLACE, PEXPIREAT for the TTL), IDLETIME/FREQ by an EVAL that DUMPs and RESTOREs the rebuilt key; " +
				"a vector set into Redis 8: the same RESTORE, the payload in the target's RDB version and (8.0.2) its nodes in serialization version 0",
			match: func(a [][]byte) bool { return len(a) >= 4 }, rewrite: (*Translator).restore})
	}
	rows = append(rows, translation{command: "function", form: "FUNCTION RESTORE payload [FLUSH|APPEND|REPLACE]",
		from:  "Redis 7.0+, Valkey",
		takes: "targets whose FUNCTION RESTORE reads the payload's RDB version",
		into:  "FUNCTION LOAD of each library (REPLACE with REPLACE; FUNCTION FLUSH first with FLUSH)",
		match: func(a [][]byte) bool { return len(a) >= 3 && is(a[1], "restore") }, rewrite: (*Translator).functionRestore})
	return rows
}

// restore re-encodes the value of a RESTORE whose payload the target
// cannot read, or rebuilds it, exactly as the snapshot's keys go.
func (t *Translator) restore(c *call) error {
	key, payload := c.args[1], c.args[3]
	version, err := rdbparse.DumpVersion(payload)
	if err != nil {
		return t.pass(c) // the target reports what is wrong with it
	}
	if ok, err := t.restoreVectorSet(c, version); ok || err != nil {
		return err
	}
	if t.caps.AcceptsRDB(version) {
		return t.pass(c) // the target reads it
	}
	ttl, err := strconv.ParseInt(string(c.args[2]), 10, 64)
	if err != nil || ttl < 0 {
		return t.pass(c)
	}
	var replace, absTTL bool
	var lru [][]byte // IDLETIME s or FREQ f
	for i := 4; i < len(c.args); i++ {
		a := c.args[i]
		switch {
		case is(a, "replace"):
			replace = true
		case is(a, "absttl"):
			absTTL = true
		case isAny(a, "idletime", "freq") && i+1 < len(c.args):
			lru = c.args[i : i+2]
			i++
		default:
			return t.pass(c) // the target reports the syntax error
		}
	}
	if reencoded, ok := ReencodePayload(key, payload, t.caps); ok {
		// The same RESTORE (TTL, REPLACE, IDLETIME/FREQ as they were),
		// its value in RDB types the target loads.
		args := append([][]byte(nil), c.args...)
		args[3] = reencoded
		t.emit(c, args...)
		return nil
	}
	expireAt := ttl
	if ttl > 0 && !absTTL {
		expireAt = time.Now().UnixMilli() + ttl
	}
	ropt := t.opt.Rebuild
	ropt.DeleteFirst = replace
	ropt.Unholdable = t.opt.Unholdable
	rb := NewRebuilder(t.caps, ropt)
	rb.SetDB(0) // the key's events say db 0: no SELECT, the stream's db applies
	err = rdbparse.DecodeDump(key, payload, rdbparse.Options{}, func(e *rdbparse.Event) error {
		if e.Kind == rdbparse.KindHeader || e.Kind == rdbparse.KindEOF {
			return nil
		}
		e.Offset = c.offset
		if e.Kind == rdbparse.KindKey {
			e.ExpireAt = expireAt
		}
		return rb.Handle(e, c.b)
	})
	if errors.Is(err, ErrUnsupported) {
		return fmt.Errorf("%s of a payload of RDB version %d, which %s cannot read: %w", upper(c.name), version, t.caps, err)
	}
	if err != nil {
		return fmt.Errorf("%s (key %q, source offset %d): the payload (RDB version %d) cannot be decoded to rebuild it on %s: %w",
			upper(c.name), key, c.offset, version, t.caps, err)
	}
	if lru != nil {
		t.emit(c, word("EVAL"), word(lruScript), word("1"), key, lru[0], lru[1])
	}
	return nil
}

// lruScript gives KEYS[1] an idle time or LFU frequency (ARGV: IDLETIME s or
// FREQ f), which only RESTORE sets: it RESTOREs the key's own DUMP.
const lruScript = "local d = redis.call('DUMP', KEYS[1]) if not d then return 0 end " +
	"local ttl = redis.call('PTTL', KEYS[1]) if ttl < 0 then ttl = 0 end " +
	"redis.call('RESTORE', KEYS[1], ttl, d, 'REPLACE', ARGV[1], ARGV[2]) return 1"

// functionRestore loads the libraries of a FUNCTION RESTORE payload the
// target cannot read one by one.
func (t *Translator) functionRestore(c *call) error {
	payload := c.args[2]
	version, err := rdbparse.DumpVersion(payload)
	if err != nil || t.caps.AcceptsRDB(version) {
		return t.pass(c)
	}
	policy := "append"
	if len(c.args) > 3 {
		policy = string(lower(nil, c.args[3]))
	}
	switch {
	case len(c.args) > 4 || policy != "append" && policy != "replace" && policy != "flush":
		return t.pass(c) // the target reports the syntax error
	case policy == "flush":
		t.emit(c, word("FUNCTION"), word("FLUSH"))
	}
	err = rdbparse.DecodeFunctionDump(payload, rdbparse.Options{}, func(e *rdbparse.Event) error {
		if e.Kind != rdbparse.KindFunction {
			return nil
		}
		if policy == "append" {
			t.emit(c, word("FUNCTION"), word("LOAD"), e.Value)
		} else {
			t.emit(c, word("FUNCTION"), word("LOAD"), word("REPLACE"), e.Value)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("FUNCTION RESTORE (source offset %d): the payload (RDB version %d) cannot be decoded to load it on %s: %w",
			c.offset, version, t.caps, err)
	}
	return nil
}
