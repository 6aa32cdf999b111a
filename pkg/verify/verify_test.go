package verify_test

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/verify"
)

// fieldTTL reports whether a server has hash field TTLs.
func fieldTTL(name string) bool {
	return name == redistest.Redis80 || name == redistest.Redis806 || name == redistest.Redis86 || name == redistest.Valkey91
}

func has7(name string) bool { return name != redistest.Redis60 }

// seed writes the same data to a server every time: explicit stream ids,
// absolute expiry times.
func seed(ctx context.Context, t *testing.T, c *redis.Client, name string, expireAt time.Time) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.FlushAll(ctx).Err())
	if has7(name) {
		must(c.Do(ctx, "FUNCTION", "FLUSH").Err())
		must(c.Do(ctx, "FUNCTION", "LOAD", redistest.FunctionLibrary).Err())
	}
	must(c.Set(ctx, "str", "hello\x00\xff", 0).Err())
	must(c.PExpireAt(ctx, "str", expireAt).Err())
	big := make([]byte, 1300<<10)
	for i := range big {
		big[i] = byte(i * 7)
	}
	must(c.Set(ctx, "bigstr", big, 0).Err())
	vals := make([]any, 2000)
	for i := range vals {
		vals[i] = "elem-" + strconv.Itoa(i)
	}
	must(c.RPush(ctx, "list", vals...).Err())
	must(c.SAdd(ctx, "set", vals[:700]...).Err())
	hv := make([]any, 0, 1200)
	for i := 0; i < 600; i++ {
		hv = append(hv, "f"+strconv.Itoa(i), "v"+strconv.Itoa(i))
	}
	must(c.HSet(ctx, "hash", hv...).Err())
	zs := []redis.Z{{Score: math.Inf(1), Member: "top"}, {Score: math.Inf(-1), Member: "bottom"}}
	for i := 0; i < 700; i++ {
		zs = append(zs, redis.Z{Score: float64(i) / 3, Member: "m" + strconv.Itoa(i)})
	}
	must(c.ZAdd(ctx, "zset", zs...).Err())
	for i := 1; i <= 30; i++ {
		must(c.XAdd(ctx, &redis.XAddArgs{Stream: "stream", ID: "1-" + strconv.Itoa(i), Values: []any{"i", i}}).Err())
	}
	must(c.XGroupCreate(ctx, "stream", "g1", "0").Err())
	must(c.XGroupCreate(ctx, "stream", "g2", "0").Err())
	for _, consumer := range []string{"c1", "c2"} {
		must(c.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g1", Consumer: consumer, Streams: []string{"stream", ">"}, Count: 5, Block: -1}).Err())
	}
	must(c.XAck(ctx, "stream", "g1", "1-1").Err())
	c2 := redis.NewClient(withDB(c.Options(), 2))
	defer c2.Close()
	must(c2.Set(ctx, "db2key", "x", 0).Err())
	if fieldTTL(name) {
		must(c.HSet(ctx, "fhash", "a", "1", "b", "2").Err())
		must(c.Do(ctx, "HPEXPIREAT", "fhash", expireAt.UnixMilli(), "FIELDS", 1, "a").Err())
	}
}

func withDB(o *redis.Options, db int) *redis.Options {
	c := *o
	c.DB = db
	return &c
}

func TestCompareFindsEachDiff(t *testing.T) {
	type diffCase struct {
		name     string
		mutate   []any // a command run on the target
		mutateDB int   // the target db mutate runs in
		db       int
		key      string
		kind     string
		needs7   bool
		needsFTT bool
	}
	cases := func(expireAt time.Time) []diffCase {
		return []diffCase{
			{name: "identical"},
			{name: "missing key", mutate: []any{"DEL", "str"}, key: "str", kind: verify.KindMissing},
			{name: "extra key", mutate: []any{"SET", "extra", "1"}, key: "extra", kind: verify.KindExtra},
			{name: "extra key in a db only the target has", mutate: []any{"SET", "only3", "x"}, mutateDB: 3, db: 3, key: "only3", kind: verify.KindExtra},
			{name: "type", mutate: []any{"EVAL", "redis.call('DEL', KEYS[1]) redis.call('SET', KEYS[1], 'x') return 1", 1, "set"}, key: "set", kind: verify.KindType},
			{name: "list element in the middle", mutate: []any{"LSET", "list", 1000, "changed"}, key: "list", kind: verify.KindValue},
			{name: "big string byte", mutate: []any{"SETRANGE", "bigstr", 900 << 10, "?"}, key: "bigstr", kind: verify.KindValue},
			{name: "set member", mutate: []any{"EVAL", "redis.call('SREM', KEYS[1], 'elem-5') return redis.call('SADD', KEYS[1], 'other')", 1, "set"}, key: "set", kind: verify.KindValue},
			{name: "hash value", mutate: []any{"HSET", "hash", "f300", "changed"}, key: "hash", kind: verify.KindValue},
			{name: "zset score one ulp", mutate: []any{"ZADD", "zset", "XX", strconv.FormatFloat(math.Nextafter(float64(500)/3, math.Inf(1)), 'g', -1, 64), "m500"}, key: "zset", kind: verify.KindValue},
			{name: "ttl 10s", mutate: []any{"PEXPIREAT", "str", expireAt.Add(10 * time.Second).UnixMilli()}, key: "str", kind: verify.KindTTL},
			{name: "ttl on one side", mutate: []any{"PERSIST", "str"}, key: "str", kind: verify.KindTTL},
			{name: "stream meta", mutate: []any{"EVAL", "redis.call('XADD', KEYS[1], '2-1', 'x', 1) return redis.call('XDEL', KEYS[1], '2-1')", 1, "stream"}, key: "stream", kind: verify.KindStreamMeta},
			{name: "missing group", mutate: []any{"XGROUP", "DESTROY", "stream", "g2"}, key: "stream", kind: verify.KindGroup},
			{name: "pending count", mutate: []any{"XACK", "stream", "g1", "1-2"}, key: "stream", kind: verify.KindGroup},
			{name: "delivery count", mutate: []any{"XCLAIM", "stream", "g1", "c1", 0, "1-2"}, key: "stream", kind: verify.KindPending},
			{name: "delivery time", mutate: []any{"XCLAIM", "stream", "g1", "c1", 0, "1-2", "IDLE", 60000, "RETRYCOUNT", 1, "JUSTID"}, key: "stream", kind: verify.KindPending},
			{name: "extra consumer", mutate: []any{"XGROUP", "CREATECONSUMER", "stream", "g2", "cx"}, key: "stream", kind: verify.KindConsumer, needs7: true},
			{name: "missing hash field ttl", mutate: []any{"HPERSIST", "fhash", "FIELDS", 1, "a"}, key: "fhash", kind: verify.KindFieldTTL, needsFTT: true},
			{name: "function", mutate: []any{"FUNCTION", "DELETE", "redferry_wl"}, db: -1, key: "redferry_wl", kind: verify.KindFunction, needs7: true},
		}
	}
	for _, server := range []string{redistest.Redis60, redistest.Redis806} {
		t.Run(server, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			src, dst := redistest.Start(t, server, redistest.Options{}), redistest.Start(t, server, redistest.Options{})
			sc, dc := src.Client(), dst.Client()
			defer sc.Close()
			defer dc.Close()
			expireAt := time.Now().Add(time.Hour).Truncate(time.Millisecond)
			for _, tc := range cases(expireAt) {
				t.Run(tc.name, func(t *testing.T) {
					if tc.needs7 && !has7(server) || tc.needsFTT && !fieldTTL(server) {
						t.Skip("not supported by " + server)
					}
					seed(ctx, t, sc, server, expireAt)
					seed(ctx, t, dc, server, expireAt)
					if tc.mutate != nil {
						mc := dst.ClientDB(tc.mutateDB)
						defer mc.Close()
						if err := mc.Do(ctx, tc.mutate...).Err(); err != nil {
							t.Fatalf("mutate %v: %v", tc.mutate, err)
						}
					}
					rep, err := verify.Compare(ctx, sc, dc, verify.Options{BatchSize: 100})
					if err != nil {
						t.Fatal(err)
					}
					if tc.kind == "" {
						if !rep.Equal() {
							t.Fatalf("want equal, got %v", rep.Diffs)
						}
						if rep.KeysChecked < 8 {
							t.Fatalf("checked only %d keys", rep.KeysChecked)
						}
						return
					}
					if rep.DiffCount != 1 || len(rep.Diffs) != 1 {
						t.Fatalf("want one %s diff, got %d: %v", tc.kind, rep.DiffCount, rep.Diffs)
					}
					d := rep.Diffs[0]
					if d.Kind != tc.kind || d.Key != tc.key || d.DB != tc.db {
						t.Fatalf("want %s on db%d %q, got %v", tc.kind, tc.db, tc.key, d)
					}
					t.Logf("%v", d)
				})
			}
		})
	}
}

func TestCompareOptions(t *testing.T) {
	ctx := context.Background()
	src, dst := redistest.Start(t, redistest.Redis70, redistest.Options{}), redistest.Start(t, redistest.Redis70, redistest.Options{})
	sc, dc := src.Client(), dst.Client()
	defer sc.Close()
	defer dc.Close()
	for i := 0; i < 30; i++ {
		if err := sc.Set(ctx, "k"+strconv.Itoa(i), i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := dc.Set(ctx, "redferry:checkpoint:x", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		opt       verify.Options
		wantCount int64
		wantLen   int
	}{
		{"all diffs", verify.Options{}, 31, 31},
		{"capped", verify.Options{MaxDiffs: 5}, 31, 5},
		{"ignore checkpoint", verify.Options{IgnoreKeys: func(db int, key string) bool {
			return strings.HasPrefix(key, "redferry:checkpoint:")
		}}, 30, 30},
		{"db 1 only", verify.Options{DBs: []int{1}}, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := verify.Compare(ctx, sc, dc, tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			if rep.DiffCount != tc.wantCount || len(rep.Diffs) != tc.wantLen {
				t.Fatalf("got %d diffs (%d listed), want %d (%d)", rep.DiffCount, len(rep.Diffs), tc.wantCount, tc.wantLen)
			}
		})
	}
	t.Run("expiring key is not missing", func(t *testing.T) {
		if err := sc.Set(ctx, "fading", "x", 800*time.Millisecond).Err(); err != nil {
			t.Fatal(err)
		}
		defer sc.Del(ctx, "fading")
		rep, err := verify.Compare(ctx, sc, dc, verify.Options{DBs: []int{0}})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range rep.Diffs {
			if d.Key == "fading" {
				t.Fatalf("a key within the TTL tolerance of expiring reported: %v", d)
			}
		}
	})
}

// TestCompareAfterReplication replicates a workload natively and checks
// Compare finds the replica equal: the workload and verify agree with the
// servers' own replication.
func TestCompareAfterReplication(t *testing.T) {
	pairs := []struct{ source, target string }{
		{redistest.Redis60, redistest.Redis60},
		{redistest.Valkey91, redistest.Valkey91},
		{redistest.Redis70, redistest.Redis806},
		{redistest.Redis70, redistest.Redis70},
		{redistest.Redis806, redistest.Redis806},
		{redistest.Valkey81, redistest.Valkey91},
	}
	for _, p := range pairs {
		t.Run(p.source+"->"+p.target, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			noDelay := redistest.Options{Args: []string{"repl-diskless-sync-delay", "0"}}
			src, dst := redistest.Start(t, p.source, noDelay), redistest.Start(t, p.target, redistest.Options{})
			sc, dc := src.Client(), dst.Client()
			defer sc.Close()
			defer dc.Close()
			w := &redistest.Workload{Seed: 42, Version: src.Version, Functions: has7(p.source) && has7(p.target),
				HashFieldTTL: fieldTTL(p.source) && fieldTTL(p.target)}
			if err := w.Fill(ctx, sc, 240); err != nil {
				t.Fatal(err)
			}
			if err := w.Run(ctx, sc, 500); err != nil { // before the sync: goes by the snapshot
				t.Fatal(err)
			}
			dst.ReplicateFrom(t, src)
			if err := w.Run(ctx, sc, 3000); err != nil { // after: goes by the command stream
				t.Fatal(err)
			}
			dst.WaitCaughtUp(t, src)
			dst.Promote(t)
			rep, err := verify.Compare(ctx, sc, dc, verify.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if !rep.Equal() {
				t.Fatalf("replica differs (%d diffs): %v", rep.DiffCount, rep.Diffs)
			}
			if rep.KeysChecked < 240 {
				t.Fatalf("checked only %d keys", rep.KeysChecked)
			}
			t.Logf("%d keys equal", rep.KeysChecked)
			// Negative control: a few more workload ops on the target alone
			// (as a replay would add) must show.
			if err := w.Run(ctx, dc, 20); err != nil {
				t.Fatal(err)
			}
			if rep, err = verify.Compare(ctx, sc, dc, verify.Options{}); err != nil {
				t.Fatal(err)
			}
			if rep.Equal() {
				t.Fatal("20 extra ops on the target went unnoticed")
			}
		})
	}
}

// TestCompareFieldTTLTargetWithout: a source with hash field TTLs against a
// target that cannot hold them reports each such hash.
func TestCompareFieldTTLTargetWithout(t *testing.T) {
	ctx := context.Background()
	src, dst := redistest.Start(t, redistest.Redis806, redistest.Options{}), redistest.Start(t, redistest.Valkey81, redistest.Options{})
	sc, dc := src.Client(), dst.Client()
	defer sc.Close()
	defer dc.Close()
	for _, c := range []*redis.Client{sc, dc} {
		if err := c.HSet(ctx, "h", "a", "1", "b", "2").Err(); err != nil {
			t.Fatal(err)
		}
		if err := c.HSet(ctx, "plain", "a", "1").Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := sc.Do(ctx, "HPEXPIRE", "h", 3_600_000, "FIELDS", 1, "b").Err(); err != nil {
		t.Fatal(err)
	}
	rep, err := verify.Compare(ctx, sc, dc, verify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Diffs) != 1 || rep.Diffs[0].Kind != verify.KindFieldTTL || rep.Diffs[0].Key != "h" {
		t.Fatalf("want one field-ttl diff on h, got %v", rep.Diffs)
	}
}

func ExampleReport_Equal() {
	rep := verify.Report{KeysChecked: 2, DiffCount: 1, Diffs: []verify.Diff{{DB: 0, Key: "k", Kind: verify.KindMissing, Detail: "string missing in target"}}}
	fmt.Println(rep.Equal(), rep.Diffs[0])
	// Output: false db0 "k": missing: string missing in target
}
