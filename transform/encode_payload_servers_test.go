package transform

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
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

// TestStreamEncoderLoadsEverywhere: a stream (several nodes, entries with
// the master's fields and others, deleted entries, a group with pending
// entries, consumers) DUMPed by each server, re-encoded by the encoder
// for that server's RDB version and RESTOREd under another name, reads
// back the same: entries, backwards too (listpack back lengths), groups,
// PEL and consumers.
func TestStreamEncoderLoadsEverywhere(t *testing.T) {
	for _, name := range redistest.All {
		t.Run(name, func(t *testing.T) {
			srv := redistest.Start(t, name, redistest.Options{})
			c := srv.Client()
			defer c.Close()
			info, err := server.Fetch(ctx(t), c)
			if err != nil {
				t.Fatal(err)
			}
			for i := 1; i <= 450; i++ {
				vals := []any{"f", i, "g", strings.Repeat("v", i%70)}
				if i%3 == 0 {
					vals = []any{"other", -i * 1000, "x", binaryValue}
				}
				must(t, c.XAdd(ctx(t), &redis.XAddArgs{Stream: "s", ID: fmt.Sprintf("%d-%d", 1000+i/7, i%7), Values: vals}).Err())
			}
			must(t, c.XGroupCreate(ctx(t), "s", "g1", "0").Err())
			must(t, c.XGroupCreate(ctx(t), "s", "g2", "$").Err())
			must(t, c.XReadGroup(ctx(t), &redis.XReadGroupArgs{Group: "g1", Consumer: "c1", Streams: []string{"s", ">"}, Count: 40}).Err())
			must(t, c.XReadGroup(ctx(t), &redis.XReadGroupArgs{Group: "g1", Consumer: "c2", Streams: []string{"s", ">"}, Count: 7}).Err())
			must(t, c.XDel(ctx(t), "s", "1001-0", "1001-3", "1010-1").Err())
			dump, err := c.Dump(ctx(t), "s").Result()
			must(t, err)
			p := payloadEncoder{limit: RestoreAutoMax, streamType: streamTypeFor(info.RDBVersion())}
			err = rdbparse.DecodeDump([]byte("s"), []byte(dump), rdbparse.Options{}, func(e *rdbparse.Event) error {
				switch {
				case e.Kind == rdbparse.KindKey:
					p.begin(e.Type)
				case e.Kind.InKey() && !p.add(e):
					t.Fatalf("the encoder refused %s", e.Kind)
				}
				return nil
			})
			must(t, err)
			payload := AppendDumpPayload(nil, p.value(), info.RDBVersion())
			if err := c.Do(ctx(t), "RESTORE", "s2", 0, payload).Err(); err != nil {
				t.Fatalf("RESTORE of stream type %d, RDB version %d: %v", p.streamType, info.RDBVersion(), err)
			}
			for _, q := range [][]any{{"XRANGE", "%s", "-", "+"}, {"XREVRANGE", "%s", "+", "-"}, {"XINFO", "GROUPS", "%s"},
				{"XPENDING", "%s", "g1", "-", "+", 100}, {"XINFO", "CONSUMERS", "%s", "g1"}, {"XLEN", "%s"}} {
				var res [2]string
				for i, key := range []string{"s", "s2"} {
					args := append([]any(nil), q...)
					for j, a := range args {
						if a == "%s" {
							args[j] = key
						}
					}
					v, err := c.Do(ctx(t), args...).Result()
					must(t, err)
					res[i] = fmt.Sprint(v)
				}
				if q[0] == "XINFO" && q[1] == "CONSUMERS" { // idle times move on
					continue
				}
				if q[0] == "XPENDING" { // so do the entries' idle times (3rd of 4)
					for i := range res {
						res[i] = regexp.MustCompile(`(\[\S+ \S+) \d+ (\d+\])`).ReplaceAllString(res[i], "$1 $2")
					}
				}
				if res[0] != res[1] {
					t.Fatalf("%v differs:\noriginal %.300s\nrestored %.300s", q, res[0], res[1])
				}
			}
			// The restored stream takes new entries.
			must(t, c.XAdd(ctx(t), &redis.XAddArgs{Stream: "s2", Values: []any{"f", 1, "g", 2}}).Err())
			// Streams without entries: made by XGROUP CREATE … MKSTREAM, or
			// emptied by XDEL.
			must(t, c.XGroupCreateMkStream(ctx(t), "empty", "g", "$").Err())
			must(t, c.XAdd(ctx(t), &redis.XAddArgs{Stream: "emptied", ID: "5-5", Values: []any{"f", 1}}).Err())
			must(t, c.XDel(ctx(t), "emptied", "5-5").Err())
			for _, key := range []string{"empty", "emptied"} {
				dump, err := c.Dump(ctx(t), key).Result()
				must(t, err)
				payload, ok := ReencodePayload([]byte(key), []byte(dump), info)
				if !ok {
					t.Fatalf("%s not re-encoded", key)
				}
				must(t, c.Do(ctx(t), "RESTORE", key+"2", 0, payload).Err())
				for _, q := range []string{"XLEN", "XINFO"} {
					args := []any{q, key}
					if q == "XINFO" {
						args = []any{q, "STREAM", key}
					}
					want, err := c.Do(ctx(t), args...).Result()
					must(t, err)
					args[len(args)-1] = key + "2"
					got, err := c.Do(ctx(t), args...).Result()
					must(t, err)
					if fmt.Sprint(want) != fmt.Sprint(got) {
						t.Fatalf("%s of %s: %v, want %v", q, key, got, want)
					}
				}
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestReencodePayload: DUMP payloads of a Valkey 9.1 source, which no
// Redis reads, re-encoded for Redis 6.0 and 8.0 load there with the same
// values (a stream with a group included); a hash with field TTLs is left
// to the commands (not ok).
func TestReencodePayload(t *testing.T) {
	src := redistest.Start(t, redistest.Valkey91, redistest.Options{})
	sc := src.Client()
	defer sc.Close()
	for _, cmd := range [][]any{{"RPUSH", "l", "a", "1", binaryValue}, {"SADD", "s", "x", "2"}, {"ZADD", "z", "1.5", "m", "-inf", "n"},
		{"HSET", "h", "f", "v", "n", "12"}, {"SET", "str", strings.Repeat("s", 5000)}, {"XADD", "x", "1-1", "f", "v"},
		{"XGROUP", "CREATE", "x", "g", "0"}, {"XREADGROUP", "GROUP", "g", "c", "STREAMS", "x", ">"},
		{"HSET", "httl", "a", "1", "b", "2"}, {"HEXPIRE", "httl", "1000", "FIELDS", "1", "a"}} {
		must(t, sc.Do(ctx(t), cmd...).Err())
	}
	reads := map[string][]any{"l": {"LRANGE", "l", 0, -1}, "s": {"SMEMBERS", "s"}, "z": {"ZRANGE", "z", 0, -1, "WITHSCORES"},
		"h": {"HGETALL", "h"}, "str": {"GET", "str"}, "x": {"XRANGE", "x", "-", "+"}}
	for _, name := range []string{redistest.Redis60, redistest.Redis80} {
		dst := redistest.Start(t, name, redistest.Options{})
		dc := dst.Client()
		info, err := server.Fetch(ctx(t), dc)
		must(t, err)
		for key, read := range reads {
			dump, err := sc.Dump(ctx(t), key).Result()
			must(t, err)
			payload, ok := ReencodePayload([]byte(key), []byte(dump), info)
			if !ok {
				t.Fatalf("%s: %s not re-encoded", name, key)
			}
			must(t, dc.Do(ctx(t), "RESTORE", key, 0, payload).Err())
			want, err := sc.Do(ctx(t), read...).Result()
			must(t, err)
			got, err := dc.Do(ctx(t), read...).Result()
			must(t, err)
			if key == "s" { // no order
				for _, v := range []*any{&want, &got} {
					var members []string
					for _, m := range (*v).([]any) {
						members = append(members, m.(string))
					}
					sort.Strings(members)
					*v = members
				}
			}
			if fmt.Sprint(want) != fmt.Sprint(got) {
				t.Fatalf("%s: %s is %v, want %v", name, key, got, want)
			}
		}
		if n := dc.XPending(ctx(t), "x", "g").Val().Count; n != 1 {
			t.Fatalf("%s: %d pending entries, want 1", name, n)
		}
		dump, err := sc.Dump(ctx(t), "httl").Result()
		must(t, err)
		if _, ok := ReencodePayload([]byte("httl"), []byte(dump), info); ok {
			t.Fatalf("%s: a hash with field TTLs was re-encoded", name)
		}
		dc.Close()
	}
}
