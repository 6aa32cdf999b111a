package redistest

import (
	"context"
	"fmt"
	"math/rand"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// runKeys is the number of keys per name space Run writes to: small, so
// the ops hit the same keys again and again.
const runKeys = 24

// runStreams is the number of streams per db Run writes to.
const runStreams = 6

type runner struct {
	w    *Workload
	r    *rand.Rand
	cs   []*redis.Client
	ops  []runOp
	tick int
}

type runOp struct {
	name   string
	weight int
	do     func(ctx context.Context, cl *redis.Client) error
}

// Run issues ops write operations (an op is one command, a transaction or
// a script) spread over the dbs, then returns. Each call continues the
// sequence of the Seed with a new part, so two calls write different
// things. The mix: INCR/INCRBY/INCRBYFLOAT, LPUSH/RPOP/LMOVE, SADD/SPOP,
// ZINCRBY, HINCRBY, APPEND, SET EX/PX (some keys expire within a second),
// EXPIRE/PERSIST, RENAME, MOVE, SELECT inside a pipeline, DEL, EVAL, MULTI/EXEC,
// XADD/XREADGROUP/XACK/XCLAIM/XDEL/XTRIM, and FCALL and HPEXPIRE when enabled.
// Binary key names and values occur throughout.
func (w *Workload) Run(ctx context.Context, c *redis.Client, ops int) error {
	w.runs++
	rn := &runner{w: w, r: rand.New(rand.NewSource(w.Seed*1_000_003 + int64(w.runs))), cs: w.clients(c)}
	defer closeAll(rn.cs)
	if w.functions() {
		if err := c.Do(ctx, "FUNCTION", "LOAD", "REPLACE", FunctionLibrary).Err(); err != nil {
			return fmt.Errorf("workload run: FUNCTION LOAD: %w", err)
		}
	}
	rn.ops = []runOp{
		{"incr", 10, rn.incr},
		{"list", 10, rn.list},
		{"set", 6, rn.set},
		{"zincrby", 6, rn.zincrby},
		{"hincrby", 6, rn.hincrby},
		{"append", 5, rn.append},
		{"setex", 6, rn.setex},
		{"expire", 4, rn.expire},
		{"rename", 3, rn.rename},
		{"move", 3, rn.move},
		{"select", 3, rn.selectPipeline},
		{"del", 3, rn.del},
		{"eval", 4, rn.eval},
		{"multi", 4, rn.multi},
		{"stream", 12, rn.stream},
	}
	if w.functions() {
		rn.ops = append(rn.ops, runOp{"fcall", 4, rn.fcall})
	}
	if w.HashFieldTTL {
		rn.ops = append(rn.ops, runOp{"hpexpire", 4, rn.hpexpire})
	}
	total := 0
	for _, op := range rn.ops {
		total += op.weight
	}
	for i := 0; i < ops; i++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("workload run: op %d: %w", i, err)
		}
		pick := rn.r.Intn(total)
		op := rn.ops[0]
		for _, o := range rn.ops {
			if pick < o.weight {
				op = o
				break
			}
			pick -= o.weight
		}
		cl := rn.cs[rn.r.Intn(len(rn.cs))]
		if err := op.do(ctx, cl); err != nil {
			return fmt.Errorf("workload run: op %d (%s, db %d): %w", i, op.name, cl.Options().DB, err)
		}
	}
	w.logger().Info("workload run done", zap.Int("ops", ops), zap.Int64("seed", w.Seed), zap.Int("run", w.runs))
	return nil
}

// key returns a key of the name space ns; a quarter have binary names.
func (rn *runner) key(ns string) string {
	i := rn.r.Intn(runKeys)
	if i%4 == 0 {
		return "r:" + ns + ":\x00\xff\r\n" + string(rune(0x80+i)) + strconv.Itoa(i)
	}
	return "r:" + ns + ":" + strconv.Itoa(i)
}

func (rn *runner) val() string { return randBytes(rn.r, 1+rn.r.Intn(40)) }

func ignoreNil(err error) error {
	if isNil(err) {
		return nil
	}
	return err
}

func (rn *runner) incr(ctx context.Context, cl *redis.Client) error {
	switch rn.r.Intn(3) {
	case 0:
		return cl.Incr(ctx, rn.key("cnt")).Err()
	case 1:
		return cl.IncrBy(ctx, rn.key("cnt"), rn.r.Int63n(2000)-1000).Err()
	default:
		return cl.IncrByFloat(ctx, rn.key("flt"), rn.r.NormFloat64()*100).Err()
	}
}

func (rn *runner) list(ctx context.Context, cl *redis.Client) error {
	switch rn.r.Intn(3) {
	case 0:
		return cl.LPush(ctx, rn.key("list"), rn.val(), rn.val()).Err()
	case 1:
		return ignoreNil(cl.RPop(ctx, rn.key("list")).Err())
	default:
		src, dst := rn.key("list"), rn.key("list")
		if rn.w.atLeast(6, 2) {
			return ignoreNil(cl.LMove(ctx, src, dst, "LEFT", "RIGHT").Err())
		}
		return ignoreNil(cl.RPopLPush(ctx, src, dst).Err())
	}
}

func (rn *runner) set(ctx context.Context, cl *redis.Client) error {
	if rn.r.Intn(3) == 0 {
		return ignoreNil(cl.SPop(ctx, rn.key("set")).Err())
	}
	return cl.SAdd(ctx, rn.key("set"), rn.val(), strconv.Itoa(rn.r.Intn(50))).Err()
}

func (rn *runner) zincrby(ctx context.Context, cl *redis.Client) error {
	member := "m" + strconv.Itoa(rn.r.Intn(20))
	if rn.r.Intn(4) == 0 {
		member = rn.val()
	}
	return cl.ZIncrBy(ctx, rn.key("zset"), rn.r.NormFloat64()*10, member).Err()
}

func (rn *runner) hincrby(ctx context.Context, cl *redis.Client) error {
	key := rn.key("hash")
	if rn.r.Intn(3) == 0 {
		return cl.HSet(ctx, key, "b:"+rn.val(), rn.val()).Err()
	}
	return cl.HIncrBy(ctx, key, "f"+strconv.Itoa(rn.r.Intn(10)), rn.r.Int63n(100)-50).Err()
}

func (rn *runner) append(ctx context.Context, cl *redis.Client) error {
	return cl.Append(ctx, rn.key("str"), rn.val()).Err()
}

// setex sets keys with a TTL: long ones (EX) and short ones (PX, expire
// during the test).
func (rn *runner) setex(ctx context.Context, cl *redis.Client) error {
	if rn.r.Intn(2) == 0 {
		return cl.Set(ctx, rn.key("tmp"), rn.val(), time.Duration(100+rn.r.Intn(900))*time.Second).Err()
	}
	return cl.Set(ctx, rn.key("tmp"), rn.val(), time.Duration(20+rn.r.Intn(500))*time.Millisecond).Err()
}

func (rn *runner) expire(ctx context.Context, cl *redis.Client) error {
	key := rn.key("str")
	if rn.r.Intn(3) == 0 {
		return cl.Persist(ctx, key).Err()
	}
	return cl.Expire(ctx, key, time.Duration(100+rn.r.Intn(900))*time.Second).Err()
}

func (rn *runner) rename(ctx context.Context, cl *redis.Client) error {
	src, dst := rn.key("str"), rn.key("str")
	n, err := cl.Exists(ctx, src).Result()
	if err != nil || n == 0 || src == dst {
		return err
	}
	return cl.Rename(ctx, src, dst).Err()
}

func (rn *runner) move(ctx context.Context, cl *redis.Client) error {
	db := rn.r.Intn(len(rn.cs))
	if db == cl.Options().DB {
		db = (db + 1) % len(rn.cs)
	}
	if db == cl.Options().DB {
		return nil // one db only
	}
	return cl.Move(ctx, rn.key("str"), db).Err()
}

// selectPipeline switches dbs inside one connection: SELECT, writes,
// SELECT back.
func (rn *runner) selectPipeline(ctx context.Context, cl *redis.Client) error {
	home := rn.cs[0]
	db := rn.r.Intn(len(rn.cs))
	cnt, list := rn.key("cnt"), rn.key("list")
	v := rn.val()
	_, err := home.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Do(ctx, "SELECT", db)
		p.Incr(ctx, cnt)
		p.LPush(ctx, list, v)
		p.Do(ctx, "SELECT", home.Options().DB)
		return nil
	})
	return err
}

func (rn *runner) del(ctx context.Context, cl *redis.Client) error {
	return cl.Del(ctx, rn.key("str"), rn.key("list"), rn.key("tmp")).Err()
}

func (rn *runner) eval(ctx context.Context, cl *redis.Client) error {
	tag := "{e" + strconv.Itoa(rn.r.Intn(runKeys)) + "}"
	keys := []string{"r:ev:" + tag + ":c", "r:ev:" + tag + ":l", "r:ev:" + tag + ":h"}
	return cl.Eval(ctx, evalScript, keys, rn.r.Intn(100), rn.val()).Err()
}

func (rn *runner) multi(ctx context.Context, cl *redis.Client) error {
	cnt, list, set, hash := rn.key("cnt"), rn.key("list"), rn.key("set"), rn.key("hash")
	v := rn.val()
	_, err := cl.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Incr(ctx, cnt)
		p.LPush(ctx, list, v)
		p.SAdd(ctx, set, v)
		p.HIncrBy(ctx, hash, "tx", 1)
		return nil
	})
	return err
}

func (rn *runner) fcall(ctx context.Context, cl *redis.Client) error {
	tag := "{f" + strconv.Itoa(rn.r.Intn(runKeys)) + "}"
	return cl.Do(ctx, "FCALL", "wl_incr", 2, "r:fn:"+tag+":c", "r:fn:"+tag+":l", rn.r.Intn(100)).Err()
}

// hpexpire sets field TTLs: long ones, and short ones that expire during
// the test.
func (rn *runner) hpexpire(ctx context.Context, cl *redis.Client) error {
	key, field := rn.key("hf"), "f"+strconv.Itoa(rn.r.Intn(8))
	if err := cl.HSet(ctx, key, field, rn.val(), "keep", "1").Err(); err != nil {
		return err
	}
	ms := 100_000 + rn.r.Int63n(900_000)
	if rn.r.Intn(3) == 0 {
		ms = 20 + rn.r.Int63n(500)
	}
	return cl.Do(ctx, "HPEXPIRE", key, ms, "FIELDS", 1, field).Err()
}

// stream runs one stream command on one of a few streams with a group g.
// XREADGROUP always follows an XADD, so it delivers at least one entry (on
// 6.0 a read that delivers nothing creates a consumer that is not
// replicated).
func (rn *runner) stream(ctx context.Context, cl *redis.Client) error {
	key := "r:stream:" + strconv.Itoa(rn.r.Intn(runStreams))
	consumer := "c" + strconv.Itoa(rn.r.Intn(3))
	xadd := func() error {
		return cl.XAdd(ctx, &redis.XAddArgs{Stream: key, Values: []any{"v", rn.val(), "n", rn.r.Intn(1000)}}).Err()
	}
	pending := func(n int64) ([]redis.XPendingExt, error) {
		res, err := cl.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: key, Group: "g", Start: "-", End: "+", Count: n}).Result()
		if err != nil && strings.HasPrefix(err.Error(), "NOGROUP") {
			return nil, nil
		}
		return res, err
	}
	switch rn.r.Intn(6) {
	case 0: // XADD
		return xadd()
	case 1: // XADD + XREADGROUP
		if err := xadd(); err != nil {
			return err
		}
		if err := cl.XGroupCreate(ctx, key, "g", "0").Err(); err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
			return fmt.Errorf("XGROUP CREATE: %w", err)
		}
		return ignoreNil(cl.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g", Consumer: consumer,
			Streams: []string{key, ">"}, Count: int64(1 + rn.r.Intn(4)), Block: -1}).Err())
	case 2: // XACK
		p, err := pending(2)
		if err != nil || len(p) == 0 {
			return err
		}
		return cl.XAck(ctx, key, "g", p[0].ID).Err()
	case 3: // XCLAIM
		p, err := pending(3)
		if err != nil || len(p) == 0 {
			return err
		}
		id := p[len(p)-1].ID
		msgs, err := cl.XRangeN(ctx, key, id, id, 1).Result()
		if err != nil {
			return err
		}
		gone := len(msgs) == 0
		if gone && rn.w.KeepDeletedPending {
			// Only claim entries that still exist: XCLAIM of a deleted
			// entry means one thing before Redis 7.0 and another after.
			return nil
		}
		if gone {
			if consumer, err = rn.claimerOfGone(ctx, cl, key, consumer, p[len(p)-1].Consumer); err != nil {
				return err
			}
		}
		// Raw: on 6.0 a claimed entry that was deleted comes back as nil.
		return cl.Do(ctx, "XCLAIM", key, "g", consumer, 0, id).Err()
	case 4: // XDEL
		msgs, err := cl.XRangeN(ctx, key, "-", "+", 3).Result()
		if err != nil || len(msgs) == 0 {
			return err
		}
		id := msgs[rn.r.Intn(len(msgs))].ID
		if rn.w.NoGhostPending {
			if p, err := cl.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: key, Group: "g", Start: id, End: id, Count: 1}).Result(); err == nil && len(p) > 0 {
				return nil // pending: keep its entry
			}
		}
		return cl.XDel(ctx, key, id).Err()
	default: // XTRIM (exact)
		n, err := cl.XLen(ctx, key).Result()
		if err != nil || n < 20 {
			return err
		}
		if rn.w.NoGhostPending {
			// Trim only below the oldest pending entry.
			if p, err := cl.XPending(ctx, key, "g").Result(); err == nil && p.Count > 0 {
				return cl.XTrimMinID(ctx, key, p.Lower).Err()
			}
		}
		return cl.XTrimMaxLen(ctx, key, n-5).Err()
	}
}

// claimerOfGone is the consumer that XCLAIMs a pending entry whose message
// is gone: consumer, unless the source would create it by that claim
// alone. Redis 8.0/8.6 and Valkey 8.1/9.1 then create the claiming
// consumer but propagate only the PEL entry's removal, so even their
// native replicas never get the consumer (a source bug, checked against a
// native replica of each; XAUTOCLAIM finding only deleted entries does the
// same). Redis 7.0 creates no consumer there and
// 6.x moves the entry and propagates the claim; 7.2, which Valkey forked
// from, is taken to behave like Valkey. Then the owner claims it instead:
// the entry still leaves the PEL, and the stream of commands the source
// propagates holds everything the source has.
func (rn *runner) claimerOfGone(ctx context.Context, cl *redis.Client, key, consumer, owner string) (string, error) {
	if !rn.w.atLeast(7, 2) || consumer == owner {
		return consumer, nil
	}
	cs, err := cl.XInfoConsumers(ctx, key, "g").Result()
	if err != nil {
		return "", fmt.Errorf("XINFO CONSUMERS %s g: %w", key, err)
	}
	for _, c := range cs {
		if c.Name == consumer {
			return consumer, nil
		}
	}
	return owner, nil
}
