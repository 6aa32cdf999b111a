package transform

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/server"
	"github.com/redferry/redferry/pkg/unholdable"
	"github.com/redferry/redferry/protocol"
	"github.com/redferry/redferry/sink"
)

var (
	caps60 = named("redis-6.0.16")
	caps70 = named("redis-7.0.15")
	caps80 = named("redis-8.0.2")
	caps86 = named("redis-8.6.3")
	capsV8 = named("valkey-8.1.1")
	capsV9 = named("valkey-9.1.2")
)

func words(s string) [][]byte {
	var out [][]byte
	for _, w := range strings.Fields(s) {
		out = append(out, []byte(w))
	}
	return out
}

// commands renders a batch as "CMD a b; CMD c".
func commands(b *sink.Batch) string {
	var parts []string
	for i := 0; i < b.Len(); i++ {
		args, _ := b.Command(i)
		var ws []string
		for _, a := range args {
			ws = append(ws, string(a))
		}
		parts = append(parts, strings.Join(ws, " "))
	}
	return strings.Join(parts, "; ")
}

func TestTranslateTable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		caps server.Info
		in   string
		want string // "" = dropped; "ERR" = ErrUnsupported
	}{
		{caps60, "SET k v PXAT 1795599298679", "SET k v; PEXPIREAT k 1795599298679"},
		{caps60, "set k v exat 1795599298", "set k v; PEXPIREAT k 1795599298000"},
		{caps60, "SET k v GET", "SET k v"},
		{caps60, "SET k v PX 100 GET", "SET k v PX 100"},
		{caps60, "SET k v KEEPTTL", "SET k v KEEPTTL"},
		{caps60, "SET k v EX 10", "SET k v EX 10"},
		{caps60, "SET k v NX PXAT 5", "EVAL " + setScript + " 1 k v NX 5"},
		{caps70, "SET k v PXAT 5", "SET k v PXAT 5"},
		{caps60, "LMOVE a b RIGHT LEFT", "RPOPLPUSH a b"},
		{caps60, "LMOVE a b left right", "EVAL " + lmoveScript + " 2 a b LEFT RIGHT"},
		{caps60, "BLMOVE a b LEFT LEFT 0", "EVAL " + lmoveScript + " 2 a b LEFT LEFT"},
		{caps70, "LMOVE a b LEFT RIGHT", "LMOVE a b LEFT RIGHT"},
		{caps60, "XGROUP CREATE s g 0 ENTRIESREAD 3", "XGROUP CREATE s g 0"},
		{caps60, "XGROUP CREATE s g $ MKSTREAM ENTRIESREAD 3", "XGROUP CREATE s g $ MKSTREAM"},
		{caps60, "XGROUP SETID s g 1-1 ENTRIESREAD 1", "XGROUP SETID s g 1-1"},
		{caps70, "XGROUP SETID s g 1-1 ENTRIESREAD 1", "XGROUP SETID s g 1-1 ENTRIESREAD 1"},
		{caps60, "XSETID s 3-0 ENTRIESADDED 3 MAXDELETEDID 2-0", "XSETID s 3-0"},
		{caps60, "XGROUP CREATECONSUMER s g c", "XREADGROUP GROUP g c COUNT 1 STREAMS s " + farStreamID},
		{caps70, "XGROUP CREATECONSUMER s g c", "XGROUP CREATECONSUMER s g c"},
		{caps60, "XCLAIM s g c 0 1-1 TIME 5 RETRYCOUNT 1 FORCE JUSTID LASTID 1-1", "XCLAIM s g c 0 1-1 TIME 5 RETRYCOUNT 1 FORCE JUSTID LASTID 1-1"},
		{caps60, "FUNCTION LOAD code", "ERR"},
		{caps70, "FUNCTION LOAD code", "FUNCTION LOAD code"},
		{caps70, "HPEXPIREAT h 5 FIELDS 1 f", "ERR"},
		{caps80, "HPEXPIREAT h 5 FIELDS 1 f", "HPEXPIREAT h 5 FIELDS 1 f"},
		{caps70, "HSETEX h PXAT 5 FIELDS 1 f v", "ERR"},
		{capsV9, "HSETEX h PXAT 5 FIELDS 1 f v", "HSETEX h PXAT 5 FIELDS 1 f v"},
		{caps70, "HGETDEL h FIELDS 2 f g", "HDEL h f g"},
		{capsV9, "HGETDEL h FIELDS 2 f g", "HGETDEL h FIELDS 2 f g"},
		{caps60, "GETDEL k", "DEL k"},
		{caps80, "PING", ""},
		{caps80, "REPLCONF GETACK *", ""},
		{caps80, "MULTI", ""},
		{caps80, "exec", ""},
		{caps80, "PUBLISH ch m", ""},
		{caps80, "NOSUCH a b", "NOSUCH a b"},
		// Exact trims with LIMIT: no server takes them from a client.
		{caps86, "XADD x MAXLEN = 1 LIMIT 100 1-1 f v", "XADD x MAXLEN = 1 1-1 f v"},
		{capsV9, "XTRIM x MINID = 5-0 LIMIT 10", "XTRIM x MINID = 5-0"},
		{caps70, "XTRIM x MAXLEN ~ 5 LIMIT 10", "XTRIM x MAXLEN ~ 5 LIMIT 10"},
		{caps60, "XADD x NOMKSTREAM MINID = 3 LIMIT 5 4-1 a b", "XADD x 4-1 a b; EVAL " + minIDScript + " 1 x 3"},
		{caps70, "XADD x NOMKSTREAM MINID = 3 4-1 a b", "XADD x NOMKSTREAM MINID = 3 4-1 a b"},
		{caps60, "PEXPIREAT k 5 NX", "PEXPIREAT k 5"},
		{caps70, "PEXPIREAT k 5 GT", "PEXPIREAT k 5 GT"},
		{caps60, "LPOP l 3", "LTRIM l 3 -1"},
		{caps60, "RPOP l 3", "LTRIM l 0 -4"},
		{caps60, "LPOP l", "LPOP l"},
		{caps70, "RPOP l 3", "RPOP l 3"},
		{caps80, "HSETEX h KEEPTTL FIELDS 1 f 2.5", "HSETEX h KEEPTTL FIELDS 1 f 2.5"},
		{caps70, "HSETEX h KEEPTTL FIELDS 1 f 2.5", "HSET h f 2.5"},
		{capsV8, "HSETEX h FNX FIELDS 2 f 1 g 2", "HSET h f 1 g 2"},
		{caps70, "HPERSIST h FIELDS 1 f", ""},
		{caps80, "SET k v IFEQ w", "SET k v"},
		{capsV8, "SET k v IFEQ w", "SET k v IFEQ w"},
		{caps60, "SET k v IFEQ w PXAT 5", "SET k v; PEXPIREAT k 5"},
		{capsV9, "SET k v IFNE w", "SET k v"},
		{caps60, "FLUSHALL SYNC", "FLUSHALL"},
		{caps80, "MSETEX 2 a 1 b 2 PXAT 9 NX", "SET a 1; PEXPIREAT a 9; SET b 2; PEXPIREAT b 9"},
		{caps80, "MSETEX 1 a 1 XX KEEPTTL", "SET a 1 KEEPTTL"},
		{capsV9, "MSETEX 1 a 1", "MSETEX 1 a 1"},
		{caps86, "XADD s IDMP p i 1-1 a b", "XADD s 1-1 a b; XIDMPRECORD s p i 1-1"},
		{caps80, "XADD s IDMPAUTO p 1-1 a b", "ERR"},
		{caps86, "XADD s IDMPAUTO p * a b", "XADD s IDMPAUTO p * a b"},
		{caps80, "XADD s IDMP p i 1-1 a b", "ERR"},
		{caps86, "XADD s IDMP p i * a b", "XADD s IDMP p i * a b"},
		{caps80, "XADD s IDMP p i * a b", ""},
		{caps80, "XCFGSET s IDMP-DURATION 5", ""},
		{caps80, "XIDMPRECORD s p i 1-1", "ERR"},
		{caps86, "XIDMPRECORD s p i 1-1", "XIDMPRECORD s p i 1-1"},
		{caps80, "HGETEX h PERSIST FIELDS 1 f", "HGETEX h PERSIST FIELDS 1 f"},
		{caps70, "HGETEX h PERSIST FIELDS 1 f", "ERR"},
		{caps60, "BLMOVE a b RIGHT LEFT 0", "RPOPLPUSH a b"},
		{caps80, "XADD s KEEPREF MAXLEN = 2 1-1 a b", "XADD s MAXLEN = 2 1-1 a b"},
		{caps80, "XTRIM s MAXLEN = 2 ACKED", "EVAL " + trimRefsScript + " 1 s MAXLEN 2 ACKED"},
		{caps86, "XTRIM s MAXLEN = 2 ACKED", "XTRIM s MAXLEN = 2 ACKED"},
		{caps80, "XDELEX s DELREF IDS 1 1-1", "EVAL " + xdelexScript + " 1 s DELREF 1-1"},
		{caps80, "XACKDEL s g IDS 2 1-1 2-1", "EVAL " + xackdelScript + " 1 s g KEEPREF 1-1 2-1"},
		{caps80, "BITOP DIFF d a b", "EVAL " + bitopScript + " 3 d a b DIFF"},
		{caps80, "BITOP AND d a b", "BITOP AND d a b"},
		{caps60, "COPY a b DB 2 REPLACE", "EVAL " + copyScript + " 2 a b 2 REPLACE"},
		{caps60, "ZADD z GT 1 a", "EVAL " + zaddGTLTScript + " 1 z GT 1 a"},
		{caps60, "ZADD z XX 1 a", "ZADD z XX 1 a"},
		{caps60, "GEOSEARCHSTORE d s FROMMEMBER m BYRADIUS 5 KM DESC COUNT 3 STOREDIST", "GEORADIUSBYMEMBER s m 5 km DESC COUNT 3 STOREDIST d"},
		{caps60, "GEOSEARCHSTORE d s FROMLONLAT 1 2 BYBOX 5 5 km", "EVAL " + geoBoxScript + " 2 d s FROMLONLAT 1 2 BYBOX 5 5 km"},
		{caps60, "GEOSEARCHSTORE d s FROMLONLAT 1 2 BYRADIUS 5 km COUNT 1 ANY", "ERR"},
		{caps80, "GEOSEARCHSTORE d s FROMLONLAT 1 2 BYPOLYGON 3 0 0 1 1 2 0", "ERR"},
		{caps70, "VADD v VALUES 1 0.5 e", "ERR"},
	}
	for _, tc := range tests {
		tr := NewTranslator(tc.caps, TranslateOptions{})
		var b sink.Batch
		err := tr.Translate(words(tc.in), nil, 42, &b)
		if tc.want == "ERR" {
			name := strings.ToUpper(strings.Fields(tc.in)[0])
			if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "42") || !strings.Contains(err.Error(), name) {
				t.Errorf("%v %q: err = %v, want ErrUnsupported naming %s and offset 42", tc.caps, tc.in, err, name)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v %q: %v", tc.caps, tc.in, err)
			continue
		}
		if got := commands(&b); got != tc.want {
			t.Errorf("%v %q:\n got %q\nwant %q", tc.caps, tc.in, got, tc.want)
		}
	}
	// Raw bytes pass through untouched; PUBLISH is kept when asked.
	tr := NewTranslator(caps80, TranslateOptions{ReplayPublish: true})
	var b sink.Batch
	raw := protocol.AppendCommandString(nil, "PUBLISH", "ch", "m")
	if err := tr.Translate(words("PUBLISH ch m"), raw, 1, &b); err != nil || string(b.Bytes()) != string(raw) {
		t.Errorf("raw PUBLISH: %q, %v", b.Bytes(), err)
	}
}

// TestTranslateEquivalence applies what an 8.0 master propagates to an 8.0
// target as is, and translated to 6.0 and 7.0 targets, and compares the data.
func TestTranslateEquivalence(t *testing.T) {
	t.Parallel()
	ref := redistest.Start(t, redistest.Redis80, redistest.Options{})
	refSink := newSink(t, ref, sink.Config{})
	now := time.Now()
	pxat := fmt.Sprint(now.Add(time.Hour).UnixMilli())
	exat := fmt.Sprint(now.Add(2 * time.Hour).Unix())
	stream := []string{
		"SET a 1 PXAT " + pxat,
		"SET b 2 EXAT " + exat,
		"SET c 3 NX PXAT " + pxat,
		"SET c 4 NX PXAT " + pxat,
		"SET f 7 XX PXAT " + pxat,
		"SET d 5 GET",
		"SET e 6 KEEPTTL",
		"RPUSH l 1 2 3 4 5 6",
		"LMOVE l l2 LEFT RIGHT", "LMOVE l l2 RIGHT LEFT", "LMOVE l l2 LEFT LEFT", "LMOVE l l2 RIGHT RIGHT", "BLMOVE l l2 LEFT RIGHT 0",
		"LMOVE nolist l2 LEFT RIGHT",
		"XADD s 1-1 a b", "XADD s 2-1 c d",
		"XGROUP CREATE s g 0 ENTRIESREAD 0",
		"XGROUP CREATECONSUMER s g idle",
		"MULTI",
		"XCLAIM s g c 0 1-1 TIME " + fmt.Sprint(now.UnixMilli()) + " RETRYCOUNT 1 FORCE JUSTID LASTID 1-1",
		"XGROUP SETID s g 1-1 ENTRIESREAD 1",
		"EXEC",
		"XGROUP CREATECONSUMER s g idle",
		// A 7.0+ source drops a deleted entry from the PEL with XCLAIM.
		"XDEL s 1-1",
		"MULTI",
		"XCLAIM s g c 0 1-1 TIME " + fmt.Sprint(now.UnixMilli()) + " RETRYCOUNT 1 FORCE JUSTID LASTID 1-1",
		"EXEC",
		"XSETID s 3-0 ENTRIESADDED 2 MAXDELETEDID 1-1",
		"HSET h f v g w x y",
		"HGETDEL h FIELDS 2 g x",
		"PUBLISH ch m",
		"PING",
	}
	var rb sink.Batch
	for i, cmd := range stream {
		if w := words(cmd); !is(w[0], "multi") && !is(w[0], "exec") && !is(w[0], "ping") {
			rb.Add(int64(i), w...)
		}
	}
	if err := refSink.Apply(ctx(t), &rb); err != nil {
		t.Fatal(err)
	}
	rc := ref.Client()
	defer rc.Close()
	want := snapshot(t, rc)
	if len(want) < 9 {
		t.Fatalf("reference has only %d keys: %v", len(want), want)
	}
	for _, name := range []string{redistest.Redis60, redistest.Redis70} {
		t.Run(name, func(t *testing.T) {
			srv := redistest.Start(t, name, redistest.Options{})
			s := newSink(t, srv, sink.Config{})
			tr := NewTranslator(s.Server(), TranslateOptions{Source: caps80})
			var b sink.Batch
			for i, cmd := range stream {
				w := words(cmd)
				if err := tr.Translate(w, protocol.AppendCommand(nil, w...), int64(i), &b); err != nil {
					t.Fatalf("%q: %v", cmd, err)
				}
			}
			if err := s.Apply(ctx(t), &b); err != nil {
				t.Fatalf("%v\nbatch: %s", err, commands(&b))
			}
			c := srv.Client()
			defer c.Close()
			if got := snapshot(t, c); !reflect.DeepEqual(got, want) {
				for k := range want {
					if got[k] != want[k] {
						t.Errorf("%s:\n got %s\nwant %s", k, got[k], want[k])
					}
				}
				for k := range got {
					if _, ok := want[k]; !ok {
						t.Errorf("extra key %s: %s", k, got[k])
					}
				}
			}
		})
	}
}

// snapshot describes every key of db 0: type, value, TTL (rounded to 10 s).
func snapshot(t *testing.T, c *redis.Client) map[string]string {
	t.Helper()
	cx := ctx(t)
	keys := c.Keys(cx, "*").Val()
	out := map[string]string{}
	for _, k := range keys {
		typ := c.Type(cx, k).Val()
		var v any
		switch typ {
		case "string":
			v = c.Get(cx, k).Val()
		case "list":
			v = c.LRange(cx, k, 0, -1).Val()
		case "set":
			m := c.SMembers(cx, k).Val()
			sort.Strings(m)
			v = m
		case "zset":
			v = c.ZRangeWithScores(cx, k, 0, -1).Val()
		case "hash":
			v = c.HGetAll(cx, k).Val()
		case "stream":
			info := xinfo(t, c, k)
			var pel []string
			var groups []string
			for _, g := range c.XInfoGroups(cx, k).Val() {
				groups = append(groups, fmt.Sprintf("%s last=%s pending=%d consumers=%d", g.Name, g.LastDeliveredID, g.Pending, g.Consumers))
				for _, p := range c.XPendingExt(cx, &redis.XPendingExtArgs{Stream: k, Group: g.Name, Start: "-", End: "+", Count: 100}).Val() {
					pel = append(pel, fmt.Sprintf("%s %s %d", p.ID, p.Consumer, p.RetryCount))
				}
				for _, cons := range c.XInfoConsumers(cx, k, g.Name).Val() {
					groups = append(groups, "consumer "+cons.Name)
				}
			}
			v = fmt.Sprint(c.XRange(cx, k, "-", "+").Val(), " last=", info["last-generated-id"], " ", groups, " ", pel)
		}
		ttl := c.PTTL(cx, k).Val()
		if ttl > 0 {
			ttl = ttl.Round(10 * time.Second)
		}
		out[k] = fmt.Sprintf("%s %v ttl=%v", typ, v, ttl)
	}
	return out
}

func named(name string) server.Info {
	in, err := server.Named(name)
	if err != nil {
		panic(err)
	}
	return in
}

// TestTranslateUnholdable: what the on-unholdable-* settings make of
// commands writing data the target cannot hold (stop: ERR, see
// TestTranslateTable), and that each skip or conversion is counted.
func TestTranslateUnholdable(t *testing.T) {
	const (
		skip    = unholdable.Skip
		convert = unholdable.Convert
	)
	tests := []struct {
		caps   server.Info
		kind   unholdable.Kind
		action unholdable.Action
		in     string
		want   string
	}{
		{caps60, unholdable.Functions, skip, "FUNCTION LOAD code", ""},
		{caps60, unholdable.Functions, skip, "FUNCTION DELETE lib", ""},
		{caps70, unholdable.FieldTTL, convert, "HSETEX h PXAT 5 FIELDS 2 f v g w", "HSET h f v g w"},
		{caps70, unholdable.FieldTTL, skip, "HSETEX h FNX PXAT 5 FIELDS 2 f v g w", "HDEL h f g"},
		{caps70, unholdable.FieldTTL, convert, "HPEXPIREAT h 5 FIELDS 2 f g", ""},
		{caps70, unholdable.FieldTTL, skip, "HPEXPIREAT h 5 FIELDS 2 f g", "HDEL h f g"},
		{caps70, unholdable.FieldTTL, skip, "HEXPIRE h 5 NX FIELDS 1 fields", "HDEL h fields"},
		{caps70, unholdable.Module, skip, "VADD v VALUES 1 0.5 e", ""},
		{caps80, unholdable.IDMP, convert, "XADD s IDMP p i 1-1 a b", "XADD s 1-1 a b"},
		{caps80, unholdable.IDMP, skip, "XADD s IDMP p i 1-1 a b", ""},
		{caps80, unholdable.IDMP, convert, "XADD s IDMP p i MAXLEN = 2 LIMIT 5 1-1 a b", "XADD s MAXLEN = 2 1-1 a b"},
		{caps80, unholdable.IDMP, convert, "XADD s IDMPAUTO p 1-1 a b", "XADD s 1-1 a b"},
		{caps80, unholdable.IDMP, convert, "XADD s IDMPAUTO p * a b", ""},
		{caps86, unholdable.IDMP, convert, "XADD s IDMP p i * a b", "XADD s IDMP p i * a b"},
		{caps80, unholdable.IDMP, skip, "XIDMPRECORD s p i 1-1", ""},
	}
	for _, tc := range tests {
		var u Unholdable
		u.Policy.Set(tc.kind, tc.action)
		u.Recorder = unholdable.NewRecorder(nil, nil)
		tr := NewTranslator(tc.caps, TranslateOptions{Unholdable: u})
		var b sink.Batch
		if err := tr.Translate(words(tc.in), nil, 42, &b); err != nil {
			t.Errorf("%v %s %q: %v", tc.caps, tc.action, tc.in, err)
			continue
		}
		if got := commands(&b); got != tc.want {
			t.Errorf("%v %s %q:\n got %q\nwant %q", tc.caps, tc.action, tc.in, got, tc.want)
		}
		wantCount := int64(1)
		if strings.Contains(tc.in, " * ") {
			wantCount = 0 // a duplicate: nothing added, nothing dropped
		}
		if n := u.Recorder.Count(tc.kind, tc.action); n != wantCount {
			t.Errorf("%v %s %q: counted %d, want %d", tc.caps, tc.action, tc.in, n, wantCount)
		}
	}
}
