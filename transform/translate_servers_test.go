package transform

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redferry/redferry/pkg/server"
	"github.com/redferry/redferry/pkg/unholdable"
	"github.com/redferry/redferry/pkg/verify"
)

// translateCase is one row of the real-server check: commands a client runs
// on a source; what the source propagates is translated for every target,
// and the target must then hold what the source holds, or the translation
// must fail with ErrUnsupported where the target cannot hold it.
type translateCase struct {
	name string
	cmds []string
	// on: the sources that take the commands (nil: all). On those, every
	// command must succeed unless mayFail.
	on      func(server.Info) bool
	mayFail bool
	// cannot: the targets that cannot hold the result (nil: none).
	cannot func(target server.Info) bool
	// kind: what the targets that cannot hold it cannot hold, when its
	// on-unholdable-* setting lets the sync go on (skip, convert).
	kind unholdable.Kind
	// check, when set, checks more than pkg/verify does.
	check func(t *testing.T, src, dst *rigNode)
}

var translateCases = []translateCase{
	{name: "XADD/XTRIM approximate trims propagated with LIMIT", on: server.Info.StreamTrimV2, cmds: []string{
		"XADD x MAXLEN ~ 10 LIMIT 100 * f v", "XADD x MAXLEN ~ 10 LIMIT 100 * f v", "XADD x MAXLEN = 10 * f v",
		"XTRIM x MAXLEN ~ 0 LIMIT 10", "XADD y 1-1 a b", "XADD y 2-1 a b", "XADD y 3-1 a b",
		"XADD y MINID ~ 3 LIMIT 5 4-1 a b", "XTRIM y MINID ~ 5 LIMIT 10",
	}},
	{name: "XADD/XTRIM MINID, NOMKSTREAM", on: server.Info.StreamTrimV2, cmds: []string{
		"XADD x 1-1 a 1", "XADD x 2-1 a 2", "XADD x 3-5 a 3", "XADD x MINID 2-1 4-1 f v", "XTRIM x MINID = 3-5",
		"XADD x MINID 3 5-1 f v", "XTRIM x MINID 5", "XADD x NOMKSTREAM 6-1 a b", "XADD nostream NOMKSTREAM 1-1 a b",
		"XADD x NOMKSTREAM MINID 7-0 7-1 a b", "XTRIM x MINID 18446744073709551615-0",
	}},
	{name: "EXPIRE NX/XX/GT/LT", on: server.Info.ExpireConditions, cmds: []string{
		"SET e v", "EXPIRE e 100 NX", "EXPIRE e 100 NX", "EXPIRE e 200 XX", "EXPIRE e 50 GT", "EXPIRE e 500 GT",
		"EXPIRE e 50 LT", "EXPIRE nokey 50 XX", "PEXPIRE e 100000 NX", "EXPIREAT e 4102444800 LT",
		"EXPIREAT e 4102444800 GT", "PEXPIREAT e 4102444800000 XX", "SET f v", "PEXPIREAT f 1 LT", "SET g v",
		"EXPIRE g 100 XX", "PERSIST e",
	}},
	{name: "LPOP/RPOP with a count, LMPOP, BLMPOP", on: server.Info.PopCount, cmds: []string{
		"RPUSH l a b c d e f g h", "LPOP l 2", "RPOP l 2", "LPOP l 0", "LPOP l 1", "RPUSH m 1 2 3",
		"LPOP m 10", "RPUSH n 1 2 3 4 5",
	}},
	{name: "LMPOP, BLMPOP", on: server.Info.ListMPop, cmds: []string{
		"RPUSH l a b c d e", "LMPOP 2 nol l LEFT COUNT 2", "BLMPOP 0.01 1 l RIGHT COUNT 2", "LMPOP 1 l RIGHT COUNT 9",
		"RPUSH m 1 2", "BLMPOP 0.01 1 m LEFT",
	}},
	{name: "HINCRBYFLOAT, HINCRBY", cmds: []string{
		"HSET h f 1 g 2", "HINCRBYFLOAT h f 1.5", "HINCRBY h g 3", "HINCRBYFLOAT h new 2", "HINCRBYFLOAT h f -0.5",
	}},
	{name: "HSETEX without a TTL", on: server.Info.HSetEx, cmds: []string{
		"HSET h a 1", "HSETEX h FNX FIELDS 1 b 2", "HSETEX h FXX FIELDS 1 a 3", "HSETEX h FNX FIELDS 1 a 9",
		"HSETEX h KEEPTTL FIELDS 2 c 4 d 5", "HSETEX h2 FIELDS 1 x y", "HGETEX h PERSIST FIELDS 1 a",
		"HPERSIST h FIELDS 1 b",
	}, mayFail: true},
	{name: "hash field TTLs", on: server.Info.HSetEx, cmds: []string{
		"HSET h a 1", "HEXPIRE h 100 FIELDS 1 a", "HSET h2 a 1 b 2 c 3", "HPEXPIRE h2 100000 FIELDS 2 a b",
	}, cannot: func(t server.Info) bool { return !t.HashFieldTTL() }, kind: unholdable.FieldTTL},
	{name: "HSETEX with a TTL", on: server.Info.HSetEx, cmds: []string{
		"HSETEX h EX 100 FIELDS 1 a 1", "HSET h2 a 1 b 2", "HSETEX h2 PX 100000 FIELDS 2 b 3 c 4",
	}, cannot: func(t server.Info) bool { return !t.HSetEx() }, kind: unholdable.FieldTTL},
	{name: "HGETEX with a TTL", on: server.Info.HSetEx, cmds: []string{
		"HSET h a 1 b 2", "HGETEX h EX 100 FIELDS 1 a",
	}, cannot: func(t server.Info) bool { return !t.HashFieldTTL() }, kind: unholdable.FieldTTL},
	{name: "HGETEX with a past TTL", on: server.Info.HSetEx, cmds: []string{
		"HSET h a 1 b 2", "HGETEX h PXAT 1 FIELDS 1 a",
	}},
	{name: "HGETDEL", on: server.Info.HGetDel, cmds: []string{
		"HSET h a 1 b 2 c 3", "HGETDEL h FIELDS 2 a c", "HGETDEL h FIELDS 1 nosuch",
	}},
	{name: "SET IFEQ", on: server.Info.SetIfEq, cmds: []string{
		"SET k v", "SET k w IFEQ v", "SET k x IFEQ nope", "SET k2 v", "SET k2 x IFEQ v PX 100000",
		"SET k3 v EX 100", "SET k3 w IFEQ v KEEPTTL", "SET k4 v", "SET k4 w IFEQ v GET",
	}},
	{name: "SET IFNE, IFDNE", on: server.Info.SetIfDigest, cmds: []string{
		"SET k v", "SET k w IFNE x", "SET k x IFNE w", "SET k y IFDNE 0123456789abcdef", "SET k z IFEQ y PXAT 4102444800000",
	}},
	{name: "MSETEX", on: server.Info.MSetEx, cmds: []string{
		"MSETEX 2 a 1 b 2 EX 100", "MSETEX 2 a 3 c 4 NX", "MSETEX 2 a 5 b 6 XX KEEPTTL", "MSETEX 1 d 7",
		"SET e x EX 100", "MSETEX 1 e 8", "MSETEX 1 f 9 PXAT 1", "MSETEX 2 g 1 h 2 PX 100000 NX",
		"MSETEX 1 i 1 EXAT 4102444800",
	}},
	{name: "FLUSHDB/FLUSHALL SYNC", on: server.Info.FlushSync, cmds: []string{
		"SET a 1", "FLUSHDB SYNC", "SET b 2", "FLUSHALL SYNC", "SET c 3", "FLUSHDB ASYNC", "SET d 4",
	}},
	{name: "RESTORE payloads", cmds: []string{
		"SET s hello", "RESTORE s2 0 {dump:s}", "RPUSH l a b c", "RESTORE l2 100000 {dump:l}",
		"SADD st a b 1 2", "RESTORE st2 4102444800000 {dump:st} ABSTTL", "SADD ints 1 2 3", "RESTORE ints2 0 {dump:ints}",
		"ZADD z 1 a 2.5 b", "RESTORE z2 0 {dump:z}", "HSET h a 1 b 2", "RESTORE h2 0 {dump:h}",
		"XADD x 1-1 a 1", "XADD x 2-1 b 2", "XGROUP CREATE x g 0", "XREADGROUP GROUP g c COUNT 1 STREAMS x >",
		"RESTORE x2 0 {dump:x}", "SET r old", "RESTORE r 0 {dump:l} REPLACE", "RESTORE idle 0 {dump:s} IDLETIME 1000",
		"SET n 12345", "RESTORE n2 0 {dump:n}",
	}, check: func(t *testing.T, src, dst *rigNode) {
		if idle := dst.c.ObjectIdleTime(ctx(t), "idle").Val(); idle < 900*time.Second {
			t.Errorf("%s -> %s: OBJECT IDLETIME of the RESTOREd key is %v, want about 1000s", src.srv.Name, dst.srv.Name, idle)
		}
	}},
	{name: "RESTORE of a hash with field TTLs", on: server.Info.HSetEx, cmds: []string{
		"HSET h a 1 b 2", "HEXPIRE h 1000 FIELDS 1 a", "RESTORE h2 0 {dump:h}",
	}, cannot: func(t server.Info) bool { return !t.HashFieldTTL() }, kind: unholdable.FieldTTL},
	{name: "FUNCTION RESTORE", on: server.Info.Functions, cmds: []string{
		`FUNCTION LOAD "#!lua name=lib\nredis.register_function('f', function(k, a) return 1 end)"`,
		"FUNCTION RESTORE {functiondump} FLUSH", "FUNCTION RESTORE {functiondump} REPLACE",
		`FUNCTION LOAD "#!lua name=lib2\nredis.register_function('g', function(k, a) return 2 end)"`,
	}, cannot: func(t server.Info) bool { return !t.Functions() }, kind: unholdable.Functions},
	{name: "COPY", on: server.Info.Copy, cmds: []string{
		"SET a 1", "COPY a b", "COPY a b", "SET c 2", "COPY c b REPLACE", "RPUSH l x y", "PEXPIRE l 100000",
		"COPY l l2", "COPY l l3 DB 1", "ZADD z 1 a", "COPY z l REPLACE", "COPY nokey n",
	}},
	{name: "ZADD GT/LT", on: server.Info.ZSetStore, cmds: []string{
		"ZADD z 1 a 2 b 3 c", "ZADD z GT 5 a 0 b", "ZADD z LT 0 a 10 b", "ZADD z GT CH 1 a 20 b 7 d",
		"ZADD z XX GT INCR 3 a", "ZADD z XX LT INCR 3 a", "ZADD z LT INCR -1 c", "ZADD z GT 1.5e1 e +inf f",
		"ZADD z GT -inf f", "ZADD z LT -inf f", "ZADD z XX LT 1 nosuch", "ZADD z2 GT 1 new",
	}},
	{name: "ZRANGESTORE, ZDIFFSTORE", on: server.Info.ZSetStore, cmds: []string{
		"ZADD z 1 a 2 b 3 c 4 d 4 e", "ZRANGESTORE r1 z 0 1", "ZRANGESTORE r2 z 0 -2 REV",
		"ZRANGESTORE r3 z (1 4 BYSCORE LIMIT 1 2", "ZRANGESTORE r4 z +inf 2 BYSCORE REV", "ZADD lex 0 a 0 b 0 c 0 d",
		"ZRANGESTORE r5 lex [b + BYLEX", "ZRANGESTORE r6 lex + - BYLEX REV LIMIT 0 2", "SET r7 x",
		"ZRANGESTORE r7 z 10 20", "ZADD y 5 b", "SADD s c", "ZDIFFSTORE d1 3 z y s", "ZDIFFSTORE d2 1 z",
		"SADD s2 a b c", "ZDIFFSTORE d3 2 s2 y", "ZDIFFSTORE d1 2 nokey z",
	}},
	{name: "GEOSEARCHSTORE BYRADIUS", on: server.Info.GeoSearch, cmds: []string{
		"GEOADD g 13.361389 38.115556 Palermo 15.087269 37.502669 Catania 2.35 48.85 Paris",
		"GEOSEARCHSTORE g2 g FROMLONLAT 15 37 BYRADIUS 200 km ASC",
		"GEOSEARCHSTORE g3 g FROMLONLAT 15 37 BYRADIUS 200 KM STOREDIST",
		"GEOSEARCHSTORE g4 g FROMMEMBER Palermo BYRADIUS 3000 km DESC COUNT 2",
		"SET g5 x", "GEOSEARCHSTORE g5 g FROMLONLAT 0 0 BYRADIUS 1 km",
	}},
	{name: "GEOSEARCHSTORE BYBOX", on: server.Info.GeoSearch, cmds: []string{
		"GEOADD g 13.361389 38.115556 Palermo 15.087269 37.502669 Catania 2.35 48.85 Paris 12.5 41.9 Rome 13.40 52.52 Berlin",
		"ZADD g 1 notgeo", "GEOSEARCHSTORE g2 g FROMMEMBER Palermo BYBOX 400 400 km",
		"GEOSEARCHSTORE g3 g FROMLONLAT 13 45 BYBOX 1500 2000 KM DESC COUNT 2 STOREDIST",
		"GEOSEARCHSTORE g4 g FROMLONLAT 13 45 BYBOX 900000 1300000 m STOREDIST",
		"GEOSEARCHSTORE g5 g FROMMEMBER Paris BYBOX 3000 800 mi COUNT 3",
		"SET g6 x", "GEOSEARCHSTORE g6 g FROMLONLAT 0 0 BYBOX 1 1 km",
	}},
	{name: "GEOSEARCHSTORE BYPOLYGON", on: server.Info.GeoPolygon, cmds: []string{
		"GEOADD g 13.36 38.11 Palermo 15.08 37.50 Catania", "GEOSEARCHSTORE g2 g BYPOLYGON 4 12 37 16 37 16 39 12 39",
	}, cannot: func(t server.Info) bool { return !t.GeoPolygon() }},
	{name: "GEOSEARCHSTORE COUNT ANY", on: server.Info.GeoSearch, cmds: []string{
		"GEOADD g 13.361389 38.115556 Palermo 15.087269 37.502669 Catania",
		"GEOSEARCHSTORE g2 g FROMMEMBER Palermo BYRADIUS 400 km COUNT 1 ANY",
	}, cannot: func(t server.Info) bool { return !t.GeoSearch() }},
	{name: "XDELEX, XACKDEL", on: server.Info.StreamRefs, cmds: []string{
		"XADD s 1-1 a 1", "XADD s 2-1 a 2", "XADD s 3-1 a 3", "XADD s 4-1 a 4", "XADD s 5-1 a 5", "XADD s 6-1 a 6",
		"XADD s 7-1 a 7", "XADD s 8-1 a 8", "XGROUP CREATE s g 0", "XGROUP CREATE s g2 0",
		"XREADGROUP GROUP g c COUNT 6 STREAMS s >", "XREADGROUP GROUP g2 c COUNT 3 STREAMS s >",
		"XDELEX s IDS 1 1-1", "XDELEX s DELREF IDS 1 2-1", "XACKDEL s g ACKED IDS 2 3-1 4-1",
		"XACKDEL s g2 ACKED IDS 1 3-1", "XDELEX s ACKED IDS 2 5-1 8-1", "XACKDEL s g DELREF IDS 1 6-1",
		"XACKDEL s g KEEPREF IDS 1 5-1",
	}},
	{name: "XADD/XTRIM with KEEPREF, DELREF, ACKED", on: server.Info.StreamRefs, cmds: []string{
		"XADD s 1-1 a 1", "XADD s 2-1 a 2", "XADD s 3-1 a 3", "XADD s 4-1 a 4", "XGROUP CREATE s g 0",
		"XREADGROUP GROUP g c COUNT 3 STREAMS s >", "XACK s g 1-1", "XADD s KEEPREF MAXLEN 4 5-1 a 5",
		"XTRIM s ACKED MAXLEN 0", "XTRIM s DELREF MINID 3-1", "XADD s DELREF MAXLEN ~ 1 6-1 a 6",
		"XADD t 1-1 a 1", "XADD t 2-1 a 2", "XADD t 3-1 a 3", "XGROUP CREATE t g 0", "XREADGROUP GROUP g c COUNT 2 STREAMS t >",
		"XACK t g 1-1 2-1", "XADD t ACKED MINID 9 4-1 a 4",
	}},
	{name: "XADD IDMP, XCFGSET", on: server.Info.StreamIDMP, cmds: []string{
		"XADD s 1-1 a 1", "XCFGSET s IDMP-DURATION 100 IDMP-MAXSIZE 10", "XADD s IDMP p i1 * a b",
		"XADD s IDMP p i1 * a b", "XADD s IDMP p i2 MAXLEN 2 * e f", "XADD s2 IDMP p i1 * a b",
	}, cannot: func(t server.Info) bool { return !t.IDMPRecord() }, kind: unholdable.IDMP, check: func(t *testing.T, src, dst *rigNode) {
		// IDMP's ids are recorded.
		info := dst.c.Do(ctx(t), "XINFO", "STREAM", "s").Val()
		var tracked any
		switch v := info.(type) {
		case map[any]any: // RESP3
			tracked = v["iids-tracked"]
		case []any: // RESP2: name, value, …
			for i := 0; i+1 < len(v); i += 2 {
				if v[i] == "iids-tracked" {
					tracked = v[i+1]
				}
			}
		}
		if tracked != int64(2) {
			t.Errorf("%s -> %s: XINFO STREAM %v, want iids-tracked 2", src.srv.Name, dst.srv.Name, info)
		}
	}},
	// IDMPAUTO's id is computed by the source and not propagated: the
	// translation computes it as the source does.
	{name: "XADD IDMPAUTO", on: server.Info.StreamIDMP, cmds: []string{
		"XADD s 1-1 a 1", "XADD s IDMPAUTO p * c d", "XADD s IDMPAUTO p * c d", "XADD s IDMPAUTO p * e f c d",
		"XADD s IDMPAUTO q * c d e f", "XADD s IDMPAUTO p * c d",
	}, cannot: func(t server.Info) bool { return !t.IDMPRecord() }, kind: unholdable.IDMP},
	{name: "BITOP DIFF, DIFF1, ANDOR, ONE", on: server.Info.BitopV2, cmds: []string{
		"SET a abcdef", "SET b zz", "SET c 0123456789", "BITOP DIFF d1 a b c", "BITOP DIFF1 d2 a b c",
		"BITOP ANDOR d3 a b c", "BITOP ONE d4 a b c", "BITOP ONE d5 b", "SET d6 x", "BITOP ONE d6 nokey",
		"SET d7 x EX 100", "BITOP DIFF d7 a nokey",
	}},
	{name: "vector sets", on: server.Info.VectorSets, cmds: []string{
		"VADD v VALUES 2 0.1 0.2 e1", "SET plain x",
	}, cannot: func(t server.Info) bool { return !t.VectorSets() }, kind: unholdable.Module},
	{name: "XREADGROUP CLAIM, XAUTOCLAIM of a deleted entry", on: server.Info.StreamV2, mayFail: true, cmds: []string{
		"XADD s 1-1 a 1", "XADD s 2-1 a 2", "XADD s 3-1 a 3", "XGROUP CREATE s g 0", "XREADGROUP GROUP g c COUNT 2 STREAMS s >",
		"XREADGROUP GROUP g c2 CLAIM 0 COUNT 5 STREAMS s >", // Redis 8.4+; the rest runs everywhere
		"XAUTOCLAIM s g c3 0 0-0 COUNT 1", "XDEL s 1-1",
		// c4 also claims a live entry: a consumer created by an XAUTOCLAIM
		// that found only deleted entries is not propagated at all (native
		// replication loses it too).
		"XAUTOCLAIM s g c4 0 0-0",
	}},
	{name: "DELEX, DELIFEQ (propagated as DEL)", mayFail: true, cmds: []string{
		"SET a 1", "DELEX a IFEQ 1", "SET b 1", "DELIFEQ b 1", "SET c 1", "DELEX c IFEQ 2", "DELIFEQ c 2",
	}},
}

// TestTranslateOnServers runs each case on every source and applies its
// translation to every target: the target must equal the source, or the
// translation stops, naming the offset (and the setting that lets it go
// on); with that setting at skip or convert the target equals the source
// but for the differences verify expects by the same setting.
func TestTranslateOnServers(t *testing.T) {
	r := newRig(t)
	var equalPairs, refused, policies int
	defer func() {
		t.Logf("%d (case, source, target) checks equal, %d refused as expected, %d skipped or converted as expected",
			equalPairs, refused, policies)
	}()
	for _, tc := range translateCases {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			ran := 0
			for _, src := range r.sources {
				if tc.on != nil && !tc.on(src.info) {
					continue
				}
				ran++
				stream, err := src.run(t, tc.cmds)
				if err != nil && !tc.mayFail {
					t.Errorf("on the source: %v", err)
					continue
				}
				for _, dst := range r.targets {
					b, err := dst.apply(t, src.info, stream, Unholdable{})
					wantErr := tc.cannot != nil && tc.cannot(dst.info)
					switch {
					case wantErr && errors.Is(err, ErrUnsupported):
						if !strings.Contains(err.Error(), "offset") {
							t.Errorf("%s -> %s: the error does not name the offset: %v", src.srv.Name, dst.srv.Name, err)
						}
						if tc.kind != "" && !strings.Contains(err.Error(), tc.kind.Setting()) {
							t.Errorf("%s -> %s: the error does not name the setting %s: %v", src.srv.Name, dst.srv.Name, tc.kind.Setting(), err)
						}
						refused++
						if tc.kind != "" {
							policies += checkPolicies(t, tc, src, dst, stream)
						}
						continue
					case wantErr:
						t.Errorf("%s -> %s: want ErrUnsupported, got %v", src.srv.Name, dst.srv.Name, err)
						continue
					case err != nil:
						t.Errorf("%s -> %s: %v", src.srv.Name, dst.srv.Name, err)
						continue
					}
					if tc.check != nil {
						tc.check(t, src, dst) // before verify reads (and so touches) the keys
					}
					equalPairs++
					if diffs := equal(t, src, dst); len(diffs) > 0 {
						t.Errorf("%s -> %s: the target differs: %v\npropagated: %v\ntranslated: %s",
							src.srv.Name, dst.srv.Name, diffs, stream, commands(b))
					}
				}
			}
			if ran == 0 {
				t.Fatalf("no source of the rig takes these commands")
			}
		})
	}
}

// checkPolicies applies the stream to a target that cannot hold all of it
// with each action of the case's on-unholdable setting other than stop:
// the translation goes on and counts what it skipped or converted, and
// verify, told the same setting, finds only expected differences.
func checkPolicies(t *testing.T, tc translateCase, src, dst *rigNode, stream []captured) (checked int) {
	t.Helper()
	for _, action := range tc.kind.Actions()[1:] {
		var u Unholdable
		u.Policy.Set(tc.kind, action)
		u.Recorder = unholdable.NewRecorder(nil, nil)
		pair := fmt.Sprintf("%s -> %s with %s", src.srv.Name, dst.srv.Name, u.Policy.Expected(tc.kind))
		b, err := dst.apply(t, src.info, stream, u)
		if err != nil {
			t.Errorf("%s: %v", pair, err)
			continue
		}
		if n := u.Recorder.Count(tc.kind, action); n == 0 {
			t.Errorf("%s: nothing counted", pair)
		}
		rep, err := verify.Compare(ctx(t), src.c, dst.c, verify.Options{TTLTolerance: 5 * time.Second, Unholdable: u.Policy})
		if err != nil {
			t.Fatal(err)
		}
		if !rep.Equal() || rep.ExpectedCount == 0 {
			t.Errorf("%s: verify finds differences %v and expected ones %v (want only expected ones)\npropagated: %v\ntranslated: %s",
				pair, rep.Diffs, rep.Expected, stream, commands(b))
		}
		checked++
	}
	return checked
}
