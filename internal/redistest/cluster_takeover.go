package redistest

import (
	"context"
	"fmt"
	"slices"
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
// replica has caught up and taken over. A takeover the cluster undoes (the
// replica's new config epoch not above the old master's, in a cluster too
// young for the replica to know the epochs) is asked for again. Then as
// Failover: Masters[master] is the new master and Replicas[master][0] the
// old one.
func (c *Cluster) Takeover(tb testing.TB, master int) {
	tb.Helper()
	if len(c.Replicas) <= master || len(c.Replicas[master]) == 0 {
		tb.Fatalf("redistest: shard %d of %s has no replica to take over", master, c)
	}
	old, promoted := c.Masters[master], c.Replicas[master][0]
	for attempt := 1; !c.takeoverOnce(tb, old, promoted); attempt++ {
		if attempt == 3 {
			tb.Fatalf("redistest: the cluster undid the takeover of %s by %s 3 times", old.Addr, promoted.Addr)
		}
	}
	c.Masters[master], c.Replicas[master][0] = promoted, old
	c.WaitHealthy(tb)
}

// takeoverOnce pauses old's writes, lets promoted catch up and take over,
// and says whether every node then names promoted, not old, as a master
// (false: promoted became a replica again).
func (c *Cluster) takeoverOnce(tb testing.TB, old, promoted *Server) bool {
	tb.Helper()
	ctx := context.Background()
	oc := old.Client()
	defer oc.Close()
	// A paused master still PINGs its replicas (a cluster's manual failover
	// stops that, a client pause does not): one sent before the old master
	// hears of the takeover would put it past the new master's history, and
	// it would take a full sync to follow it.
	period, err := oc.ConfigGet(ctx, "repl-ping-replica-period").Result()
	if err != nil || period["repl-ping-replica-period"] == "" {
		tb.Fatalf("redistest: CONFIG GET repl-ping-replica-period on %s: %v %v", old.Addr, period, err)
	}
	do(tb, old, "CONFIG", "SET", "repl-ping-replica-period", 3600)
	defer do(tb, old, "CONFIG", "SET", "repl-ping-replica-period", period["repl-ping-replica-period"])
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
	if !preSeven(old.Name) {
		defer do(tb, old, "CLIENT", "UNPAUSE") // 6.x: the pause ends by itself
	}
	want := infoValue(info.Val(), "master_repl_offset")
	waitFor(tb, func() (bool, string) {
		got := promoted.InfoField(tb, "replication", "slave_repl_offset")
		a, _ := strconv.ParseInt(got, 10, 64)
		b, _ := strconv.ParseInt(want, 10, 64)
		return a >= b, "replica at " + got + ", paused master at " + want
	}, "the replica "+promoted.Addr+" to catch up with the paused "+old.Addr)
	do(tb, promoted, "CLUSTER", "FAILOVER", "TAKEOVER")
	undone, wasMaster := false, false
	waitFor(tb, func() (bool, string) {
		switch role := promoted.InfoField(tb, "replication", "role"); {
		case role == "master":
			wasMaster = true
		case wasMaster:
			undone = true
			return true, ""
		default:
			return false, "role " + role
		}
		for _, n := range c.Nodes() {
			_, owners, err := slotView(n)
			if err != nil {
				return false, err.Error()
			}
			if slices.Contains(owners, old.Addr) || !slices.Contains(owners, promoted.Addr) {
				return false, fmt.Sprintf("%s sees the masters %v", n.Addr, owners)
			}
		}
		return true, ""
	}, "takeover of "+old.Addr+" by "+promoted.Addr)
	return !undone
}
