package redistest

import (
	"context"
	"math/rand"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// crossSlotKeys is the number of keys per name space CrossSlotLoad writes.
const crossSlotKeys = 40

// CrossSlotKey is key i of name space ns ("n", "l", "a", "s", "m", "u") of
// CrossSlotLoad.
func CrossSlotKey(ns string, i int) string { return "c:" + ns + ":" + strconv.Itoa(i) }

// CrossSlotLoad writes ops operations of a non-idempotent load, in db 0,
// to a standalone source synced into a cluster: counters, pushes, appends,
// and commands whose keys are in different slots (MSET, DEL of many keys,
// RENAME, SMOVE, LMOVE, SUNIONSTORE), and transactions within one slot
// (hash tags). Replayed twice, or with a command left out, it shows.
func CrossSlotLoad(ctx context.Context, c *redis.Client, r *rand.Rand, ops int) error {
	key := func(ns string) string { return CrossSlotKey(ns, r.Intn(crossSlotKeys)) }
	for range ops {
		var err error
		switch r.Intn(12) {
		case 0, 1:
			err = c.Incr(ctx, key("n")).Err()
		case 2:
			err = c.LPush(ctx, key("l"), r.Intn(1000)).Err()
		case 3:
			err = c.Append(ctx, key("a"), strconv.Itoa(r.Intn(10))).Err()
		case 4:
			err = c.MSet(ctx, key("m"), r.Intn(100), key("m"), r.Intn(100), key("n"), r.Intn(100)).Err()
		case 5:
			err = c.Del(ctx, key("n"), key("l"), key("m"), key("s")).Err()
		case 6:
			if err = c.Rename(ctx, key("a"), key("a")).Err(); err != nil && strings.Contains(err.Error(), "no such key") {
				err = nil
			}
		case 7:
			if err = c.SAdd(ctx, key("s"), r.Intn(20)).Err(); err == nil {
				err = c.SMove(ctx, key("s"), key("s"), strconv.Itoa(r.Intn(20))).Err()
			}
		case 8:
			src, dst := key("l"), key("l")
			if err = c.LMove(ctx, src, dst, "RIGHT", "LEFT").Err(); err != nil && strings.Contains(err.Error(), "unknown command") {
				err = c.RPopLPush(ctx, src, dst).Err() // the same move on a Redis 6.0 source
			}
		case 9:
			err = c.SUnionStore(ctx, key("u"), key("s"), key("s")).Err()
		case 10:
			tag := "{t" + strconv.Itoa(r.Intn(5)) + "}"
			_, err = c.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Incr(ctx, tag+":n")
				p.RPush(ctx, tag+":l", r.Intn(100))
				return nil
			})
		case 11:
			err = c.Expire(ctx, key("a"), time.Duration(50+r.Intn(100))*time.Second).Err()
		}
		if err != nil && err != redis.Nil {
			return err
		}
	}
	return nil
}
