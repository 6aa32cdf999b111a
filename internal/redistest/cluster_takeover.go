package redistest

import (
	"context"
	"strconv"
	"testing"

	"github.com/redis/go-redis/v9"
)

// takeoverPauseMS bounds how long Takeover pauses the old master's writes.
const takeoverPauseMS = 3000

// Takeover promotes the first replica of shard master with CLUSTER FAILOVER
// TAKEOVER: the replica takes the slots without the other masters' votes,
// so it need not wait for gossip to have spread its role (a cluster just
// formed, whose masters may not know yet that the replica is one, cannot
// hold a coordinated failover for a second or so). No write is lost: the
// old master's writes are paused (CLIENT PAUSE, at most 3 s) until the
// replica has caught up and taken over. Then as Failover: Masters[master]
// is the new master and Replicas[master][0] the old one.
func (c *Cluster) Takeover(tb testing.TB, master int) {
	tb.Helper()
	if len(c.Replicas) <= master || len(c.Replicas[master]) == 0 {
		tb.Fatalf("redistest: shard %d of %s has no replica to take over", master, c)
	}
	ctx := context.Background()
	old, promoted := c.Masters[master], c.Replicas[master][0]
	oc := old.Client()
	defer oc.Close()
	// The pause and the offset it stops the stream at, at once (MULTI: a
	// 6.x pause holds every command of other clients, INFO too).
	args := []any{"CLIENT", "PAUSE", takeoverPauseMS}
	if !preSeven(old.Name) {
		args = append(args, "WRITE")
	}
	var info *redis.StringCmd
	if _, err := oc.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Do(ctx, args...)
		info = p.Info(ctx, "replication")
		return nil
	}); err != nil {
		tb.Fatalf("redistest: pausing the writes of %s: %v", old.Addr, err)
	}
	want := infoValue(info.Val(), "master_repl_offset")
	waitFor(tb, func() (bool, string) {
		got := promoted.InfoField(tb, "replication", "slave_repl_offset")
		a, _ := strconv.ParseInt(got, 10, 64)
		b, _ := strconv.ParseInt(want, 10, 64)
		return a >= b, "replica at " + got + ", paused master at " + want
	}, "the replica "+promoted.Addr+" to catch up with the paused "+old.Addr)
	do(tb, promoted, "CLUSTER", "FAILOVER", "TAKEOVER")
	waitFor(tb, func() (bool, string) {
		role := promoted.InfoField(tb, "replication", "role")
		return role == "master", "role " + role
	}, "takeover of "+old.Addr+" by "+promoted.Addr)
	if !preSeven(old.Name) {
		do(tb, old, "CLIENT", "UNPAUSE") // 6.x: the pause ends by itself
	}
	c.Masters[master], c.Replicas[master][0] = promoted, old
	c.WaitHealthy(tb)
}
