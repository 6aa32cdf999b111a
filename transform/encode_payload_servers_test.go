package transform

import (
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/server"
	"github.com/redferry/redferry/rdbparse"
)

// TestPayloadEncoderLoadsEverywhere: every supported server RESTOREs what
// the encoder writes with that server's own RDB version, holds the same
// value afterwards (and the TTL), and keeps small values in its compact
// encodings, as it does when it loads its own snapshot.
func TestPayloadEncoderLoadsEverywhere(t *testing.T) {
	for _, name := range redistest.All {
		t.Run(name, func(t *testing.T) {
			srv := redistest.Start(t, name, redistest.Options{})
			c := srv.Client()
			defer c.Close()
			info, err := server.Fetch(ctx(t), c)
			if err != nil {
				t.Fatal(err)
			}
			version := info.RDBVersion()
			for i, ec := range encodeCases {
				key := "k" + strconv.Itoa(i)
				var at int64
				if ec.ttl {
					at = time.Now().Add(time.Hour).UnixMilli()
				}
				payload := ec.encode(t, version)
				err := c.Do(ctx(t), "RESTORE", key, at, payload, "ABSTTL").Err()
				if err != nil {
					t.Fatalf("%s: RESTORE of RDB version %d: %v", ec.name, version, err)
				}
				checkValue(t, c, key, ec)
				ttl := c.PTTL(ctx(t), key).Val()
				if ec.ttl && (ttl < 59*time.Minute || ttl > time.Hour) || !ec.ttl && ttl != -1 {
					t.Fatalf("%s: PTTL %s, want the hour set (ttl %v)", ec.name, ttl, ec.ttl)
				}
			}
		})
	}
}

// checkValue compares key's value on the server with ec's.
func checkValue(t *testing.T, c *redis.Client, key string, ec encodeCase) {
	t.Helper()
	want := ec.want()
	if typ := c.Type(ctx(t), key).Val(); typ != ec.typ.String() {
		t.Fatalf("%s: TYPE %q, want %q", ec.name, typ, ec.typ)
	}
	var got decoded
	got.typ = ec.typ
	switch ec.typ {
	case rdbparse.TypeString:
		got.str = c.Get(ctx(t), key).Val()
	case rdbparse.TypeList:
		for _, v := range c.LRange(ctx(t), key, 0, -1).Val() {
			got.elems = append(got.elems, encodeElem{value: v})
		}
	case rdbparse.TypeSet:
		members := map[string]bool{}
		for _, v := range c.SMembers(ctx(t), key).Val() {
			members[v] = true
		}
		if len(members) != len(want.elems) {
			t.Fatalf("%s: %d members, want %d", ec.name, len(members), len(want.elems))
		}
		for _, el := range want.elems {
			if !members[el.value] {
				t.Fatalf("%s: member %q missing", ec.name, el.value)
			}
		}
		got.elems = want.elems
	case rdbparse.TypeZSet:
		scores := map[string]float64{}
		for _, z := range c.ZRangeWithScores(ctx(t), key, 0, -1).Val() {
			scores[z.Member.(string)] = z.Score
		}
		if len(scores) != len(want.elems) {
			t.Fatalf("%s: %d members, want %d", ec.name, len(scores), len(want.elems))
		}
		for _, el := range want.elems {
			if s, ok := scores[el.value]; !ok || s != el.score {
				t.Fatalf("%s: member %q score %v (present %v), want %v", ec.name, el.value, s, ok, el.score)
			}
		}
		got.elems = want.elems
	case rdbparse.TypeHash:
		fields := c.HGetAll(ctx(t), key).Val()
		if len(fields) != len(want.elems) {
			t.Fatalf("%s: %d fields, want %d", ec.name, len(fields), len(want.elems))
		}
		for _, el := range want.elems {
			if v, ok := fields[el.field]; !ok || v != el.value {
				t.Fatalf("%s: field %q = %q (present %v), want %q", ec.name, el.field, v, ok, el.value)
			}
		}
		got.elems = want.elems
	}
	if got.str != want.str || len(got.elems) != len(want.elems) {
		t.Fatalf("%s: %d bytes, %d elements; want %d bytes, %d elements", ec.name, len(got.str), len(got.elems), len(want.str), len(want.elems))
	}
	for i := range want.elems {
		if got.elems[i] != want.elems[i] {
			t.Fatalf("%s: element %d is %q, want %q", ec.name, i, got.elems[i].value, want.elems[i].value)
		}
	}
	// Small values load into the compact encodings, as from a snapshot.
	enc := c.ObjectEncoding(ctx(t), key).Val()
	switch ec.name {
	case "int set":
		if enc != "intset" {
			t.Fatalf("%s: OBJECT ENCODING %q, want intset", ec.name, enc)
		}
	case "list", "zset", "hash": // (sets of strings are hashtables before 7.2)
		if enc == "linkedlist" || enc == "skiplist" || enc == "hashtable" {
			t.Fatalf("%s: OBJECT ENCODING %q, want a compact one", ec.name, enc)
		}
	}
}
