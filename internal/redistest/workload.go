package redistest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// Workload writes a realistic data set (Fill) and a non-idempotent write
// load (Run) for end-to-end tests: replaying a command twice, or skipping
// one, leaves a visible difference (counters, list pushes and pops, stream
// acks, renames and moves).
//
// Everything is derived from Seed: the same Seed gives the same sequence of
// commands (stream ids and expiry times still come from the server clock).
// A Workload is not safe for concurrent use.
type Workload struct {
	Seed int64
	// DBs is the number of dbs written to, 0..DBs-1 (default 3).
	DBs int
	// Version is the server version of the source, e.g. "6.0.16" or
	// "9.1.2"; it decides which commands are used (LMOVE from 6.2,
	// functions from 7.0).
	Version string
	// HashFieldTTL adds hash field TTLs (HPEXPIRE: Redis 7.4+, Valkey 9+).
	// Opt-in: older targets cannot hold them.
	HashFieldTTL bool
	// Functions loads a function library and calls it (FCALL, 7.0+).
	// Opt-in: targets older than 7.0 have no functions.
	Functions bool
	// KeepDeletedPending makes Run claim (XCLAIM) only pending entries that
	// still exist. XCLAIM of a deleted entry moves it to the claiming
	// consumer before Redis 7.0 and drops it from the PEL since (native
	// replication from 6.x into 7.0+ drops it); a sync translates the
	// propagated claim, for tests of other paths that do not.
	KeepDeletedPending bool
	// NoGhostPending keeps Run from deleting or trimming stream entries that
	// are still pending, for a test that wants no pending entry whose
	// message is gone (redferry rebuilds those by commands too, by copying
	// the stream). Needs a 6.2+ source (MINID).
	NoGhostPending bool
	// Logger gets a line per Fill and Run (default: none).
	Logger *zap.Logger

	runs int // Run calls so far, so each call gets its own sequence
}

// FunctionLibrary is the library Fill loads when Functions is set.
const FunctionLibrary = "#!lua name=redferry_wl\n" +
	"redis.register_function('wl_incr', function(keys, args)\n" +
	"  redis.call('RPUSH', keys[2], args[1])\n" +
	"  return redis.call('INCRBY', keys[1], args[1])\n" +
	"end)\n"

// evalScript writes three keys; replayed twice it shows.
const evalScript = `redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('RPUSH', KEYS[2], ARGV[2])
redis.call('HINCRBY', KEYS[3], ARGV[2], 1)
return 1`

func (w *Workload) dbs() int {
	if w.DBs <= 0 {
		return 3
	}
	return w.DBs
}

func (w *Workload) logger() *zap.Logger {
	if w.Logger == nil {
		return zap.NewNop()
	}
	return w.Logger
}

// version returns major and minor of w.Version (0, 0 when unknown: the
// oldest command set).
func (w *Workload) version() (int, int) {
	parts := strings.SplitN(w.Version, ".", 3)
	if len(parts) < 2 {
		return 0, 0
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return 0, 0
	}
	return major, minor
}

func (w *Workload) atLeast(major, minor int) bool {
	ma, mi := w.version()
	return ma > major || ma == major && mi >= minor
}

func (w *Workload) functions() bool { return w.Functions && w.atLeast(7, 0) }

// clients opens a client per db like c. The caller closes them.
func (w *Workload) clients(c *redis.Client) []*redis.Client {
	out := make([]*redis.Client, w.dbs())
	for db := range out {
		o := *c.Options()
		o.DB = db
		out[db] = redis.NewClient(&o)
	}
	return out
}

func closeAll(cs []*redis.Client) {
	for _, c := range cs {
		c.Close()
	}
}

// randBytes returns n random bytes (any of 0x00-0xff).
func randBytes(r *rand.Rand, n int) string {
	b := make([]byte, n)
	r.Read(b)
	return string(b)
}

// Fill writes about keys keys spread over the dbs: strings (int, short,
// binary, big), lists, sets (intset and hashtable), zsets (with ±inf),
// hashes, streams with groups, consumers, pending and acked entries, small
// and large encodings of each, some with TTLs, some with binary names;
// plus the function library and hash field TTLs when enabled.
func (w *Workload) Fill(ctx context.Context, c *redis.Client, keys int) error {
	r := rand.New(rand.NewSource(w.Seed))
	cs := w.clients(c)
	defer closeAll(cs)
	if w.functions() {
		if err := c.Do(ctx, "FUNCTION", "LOAD", "REPLACE", FunctionLibrary).Err(); err != nil {
			return fmt.Errorf("workload fill: FUNCTION LOAD: %w", err)
		}
	}
	const kinds = 8
	for i := 0; i < keys; i++ {
		kind, n := i%kinds, i/kinds
		cl := cs[n%len(cs)]
		big := n%10 == 0
		name := fmt.Sprintf("wl:%d:%d", kind, i)
		if n%7 == 3 {
			name = "wl:bin:" + randBytes(r, 8) + strconv.Itoa(i) // binary key names
		}
		var err error
		switch kind {
		case 0:
			err = w.fillString(ctx, cl, r, name, i, big)
		case 1:
			err = fillList(ctx, cl, r, name, big)
		case 2:
			err = fillSet(ctx, cl, r, name, big, n%2 == 0)
		case 3:
			err = fillZSet(ctx, cl, r, name, big)
		case 4:
			err = w.fillHash(ctx, cl, r, name, big)
		case 5:
			err = w.fillStream(ctx, cl, r, name, big)
		case 6:
			err = cl.Set(ctx, name, strconv.FormatInt(r.Int63n(1<<40)-1<<39, 10), 0).Err()
		case 7:
			err = cl.Set(ctx, name, strconv.FormatFloat(r.NormFloat64()*1e6, 'g', -1, 64), 0).Err()
		}
		if err != nil {
			return fmt.Errorf("workload fill: key %q (kind %d): %w", name, kind, err)
		}
		if i%5 == 2 { // a long TTL that outlives the test
			if err := cl.PExpire(ctx, name, mathDuration(3600_000+r.Int63n(3600_000))).Err(); err != nil {
				return fmt.Errorf("workload fill: PEXPIRE %q: %w", name, err)
			}
		}
	}
	w.logger().Info("workload fill done", zap.Int("keys", keys), zap.Int64("seed", w.Seed))
	return nil
}

func (w *Workload) fillString(ctx context.Context, cl *redis.Client, r *rand.Rand, name string, i int, big bool) error {
	size := 1 + r.Intn(64)
	switch {
	case i == 0:
		size = 1200 << 10 // bigger than a verify GETRANGE piece
	case big:
		size = 64<<10 + r.Intn(64<<10)
	}
	return cl.Set(ctx, name, randBytes(r, size), 0).Err()
}

func fillList(ctx context.Context, cl *redis.Client, r *rand.Rand, name string, big bool) error {
	n := 3 + r.Intn(8)
	if big {
		n = 1000 + r.Intn(500)
	}
	_, err := cl.Pipelined(ctx, func(p redis.Pipeliner) error {
		for j := 0; j < n; j += 100 {
			vals := make([]any, 0, 100)
			for k := j; k < min(n, j+100); k++ {
				sz := 1 + r.Intn(20)
				if big && k%50 == 0 {
					sz = 200 + r.Intn(200)
				}
				vals = append(vals, randBytes(r, sz))
			}
			p.RPush(ctx, name, vals...)
		}
		return nil
	})
	return err
}

func fillSet(ctx context.Context, cl *redis.Client, r *rand.Rand, name string, big, ints bool) error {
	n := 3 + r.Intn(8)
	if big {
		n = 600 + r.Intn(200)
	}
	vals := make([]any, 0, n)
	for j := 0; j < n; j++ {
		if ints {
			vals = append(vals, r.Int63n(1<<40))
		} else {
			vals = append(vals, randBytes(r, 1+r.Intn(24)))
		}
	}
	return cl.SAdd(ctx, name, vals...).Err()
}

func fillZSet(ctx context.Context, cl *redis.Client, r *rand.Rand, name string, big bool) error {
	n := 3 + r.Intn(8)
	if big {
		n = 300 + r.Intn(100)
	}
	zs := make([]redis.Z, 0, n+2)
	for j := 0; j < n; j++ {
		zs = append(zs, redis.Z{Score: r.NormFloat64() * 1e3, Member: randBytes(r, 1+r.Intn(24))})
	}
	zs = append(zs, redis.Z{Score: math.Inf(1), Member: "+inf"}, redis.Z{Score: math.Inf(-1), Member: "-inf"})
	return cl.ZAdd(ctx, name, zs...).Err()
}

func (w *Workload) fillHash(ctx context.Context, cl *redis.Client, r *rand.Rand, name string, big bool) error {
	n := 3 + r.Intn(8)
	if big {
		n = 600 + r.Intn(200)
	}
	fields := make([]string, 0, n)
	vals := make([]any, 0, 2*n)
	for j := 0; j < n; j++ {
		f := randBytes(r, 1+r.Intn(16)) + strconv.Itoa(j)
		fields = append(fields, f)
		sz := 1 + r.Intn(30)
		if big && j%60 == 0 {
			sz = 100 + r.Intn(100)
		}
		vals = append(vals, f, randBytes(r, sz))
	}
	if err := cl.HSet(ctx, name, vals...).Err(); err != nil {
		return err
	}
	if !w.HashFieldTTL {
		return nil
	}
	args := []any{"HPEXPIRE", name, 3600_000 + r.Int63n(3600_000), "FIELDS"}
	var ttl []any
	for j, f := range fields {
		if j%3 == 0 {
			ttl = append(ttl, f)
		}
	}
	args = append(args, len(ttl))
	args = append(args, ttl...)
	return cl.Do(ctx, args...).Err()
}

func (w *Workload) fillStream(ctx context.Context, cl *redis.Client, r *rand.Rand, name string, big bool) error {
	n := 5 + r.Intn(20)
	if big {
		n = 600 + r.Intn(200)
	}
	for j := 0; j < n; j++ {
		if err := cl.XAdd(ctx, &redis.XAddArgs{Stream: name, Values: []any{"n", j, "v", randBytes(r, 1+r.Intn(32))}}).Err(); err != nil {
			return fmt.Errorf("XADD: %w", err)
		}
	}
	if err := cl.XGroupCreate(ctx, name, "g1", "0").Err(); err != nil {
		return fmt.Errorf("XGROUP CREATE: %w", err)
	}
	if err := cl.XGroupCreate(ctx, name, "g2", "$").Err(); err != nil {
		return fmt.Errorf("XGROUP CREATE: %w", err)
	}
	var ids []string
	for _, consumer := range []string{"c1", "c2"} {
		res, err := cl.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g1", Consumer: consumer,
			Streams: []string{name, ">"}, Count: int64(1 + n/3), Block: -1}).Result()
		if err != nil {
			return fmt.Errorf("XREADGROUP: %w", err)
		}
		for _, m := range res[0].Messages {
			ids = append(ids, m.ID)
		}
	}
	if len(ids) >= 4 {
		if err := cl.XAck(ctx, name, "g1", ids[0], ids[2]).Err(); err != nil {
			return fmt.Errorf("XACK: %w", err)
		}
		if err := cl.XClaim(ctx, &redis.XClaimArgs{Stream: name, Group: "g1", Consumer: "c3", Messages: ids[3:4]}).Err(); err != nil {
			return fmt.Errorf("XCLAIM: %w", err)
		}
		if err := cl.XDel(ctx, name, ids[1]).Err(); err != nil {
			return fmt.Errorf("XDEL: %w", err)
		}
	}
	if w.atLeast(6, 2) {
		if err := cl.Do(ctx, "XGROUP", "CREATECONSUMER", name, "g2", "idle").Err(); err != nil {
			return fmt.Errorf("XGROUP CREATECONSUMER: %w", err)
		}
	}
	return nil
}

func mathDuration(ms int64) time.Duration { return time.Duration(ms) * time.Millisecond }

// isNil reports a nil reply, which many Run commands give on an empty key.
func isNil(err error) bool { return errors.Is(err, redis.Nil) }
