package clustersource

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/checkpoint"
	"github.com/redferry/redferry/pkg/retry"
	"github.com/redferry/redferry/pkg/server"
)

// shardScope is the part of the shared target one shard writes: the keys
// of the slots its master serves (syncer.TargetScope). A shard needing a
// new full sync (its download broke off while the snapshot was applied, or
// its master cannot continue the stream) removes them instead of emptying
// the target, which the other shards share.
//
// Which slots: those the shard's master serves once no slot migrates
// between the source's masters. Until then a slot's keys may be in two
// shards, and another shard may have applied keys moved to it. While this
// shard is not streaming, the other shards hold back the keys moved to them
// (shardGate.Exclusive), so none of those is in the target yet: a slot the
// shard served in its snapshot and gave away since holds only what this
// shard wrote, or what the new owner wrote without a move (a key created
// after it), which stays. The keys of such a slot this shard's partial
// snapshot wrote are replaced by the moves when they land; only a key the
// master deleted before moving the slot, during the broken download, would
// stay (see the README).
type shardScope struct {
	sv   *Supervisor
	name string
	addr string // the master the shard's syncer follows
}

func (sc *shardScope) Clear(ctx context.Context, dbs []int) error {
	slots, err := sc.sv.settledSlots(ctx, sc.addr)
	if err != nil {
		return err
	}
	start := time.Now()
	n, err := sc.sv.target.removeSlots(ctx, slots, dbs, sc.sv.opt.Sync.CheckpointKey)
	if err != nil {
		return err
	}
	sc.sv.log.Info("removed the keys of the shard's slots from the target before its new full sync",
		zap.String("shard", sc.name), zap.Int("slots", countSlots(slots)), zap.Int64("keys", n), zap.Duration("took", time.Since(start)))
	return nil
}

func countSlots(slots *[server.SlotCount]bool) int {
	n := 0
	for _, in := range slots {
		if in {
			n++
		}
	}
	return n
}

// settledSlots waits until no slot migrates between the source's masters,
// then returns the slots that addr serves.
func (sv *Supervisor) settledSlots(ctx context.Context, addr string) (*[server.SlotCount]bool, error) {
	var bo retry.Backoff
	for {
		topo, err := sv.discover(ctx, true)
		if err != nil {
			return nil, err
		}
		if err := sv.waitNoMigration(ctx, topo); err != nil {
			return nil, err
		}
		if topo, err = sv.discover(ctx, true); err != nil {
			return nil, err
		}
		if err := markMigrating(ctx, &topo, sv.opt.Sync.Source); err != nil {
			return nil, err
		}
		i := slices.IndexFunc(topo.Shards, func(s Shard) bool { return s.MasterAddr == addr })
		if i >= 0 && !topo.Migrating() && !sv.atomicMigrating(ctx, topo) {
			var out [server.SlotCount]bool
			for _, r := range topo.Shards[i].Slots {
				for slot := r.Start; slot <= r.End && slot < server.SlotCount; slot++ {
					out[slot] = true
				}
			}
			return &out, nil
		}
		// A migration began again, or the master is not one now (a
		// failover: the supervisor moves the link, which cancels ctx).
		if err := retry.Sleep(ctx, bo.Next()); err != nil {
			return nil, err
		}
	}
}

// removeSlots deletes the keys of the given slots from every master of the
// target, in the dbs given (nil: every db holding keys), except redferry's
// own keys (checkpoints, marks, import records). It returns how many went.
// Every key present from the listing's start to its end is found
// (eachSlotKey), and nothing writes these slots meanwhile (their shard is not streaming, and the
// other shards' moved keys wait for it).
func (t *targetSide) removeSlots(ctx context.Context, slots *[server.SlotCount]bool, dbs []int, base string) (int64, error) {
	addrs, cluster, err := t.masters(ctx)
	if err != nil {
		return 0, err
	}
	var removed int64
	for _, addr := range addrs {
		// A client of its own: several shards may clear at once (all those
		// cut by a kill), more than the shared control client's pool.
		o := t.opt.Target
		if cluster {
			o.Addr = addr
		}
		o.PoolSize = 1
		c := server.NewClient(o)
		n, err := removeSlotsOn(ctx, c, slots, dbs, base)
		_ = c.Close()
		removed += n
		if err != nil {
			return removed, fmt.Errorf("removing a shard's keys from the target %s (%s): %w", t.opt.TargetName, addr, err)
		}
	}
	return removed, nil
}

// removeSlotsOn is removeSlots on one master.
func removeSlotsOn(ctx context.Context, c *redis.Client, slots *[server.SlotCount]bool, dbs []int, base string) (int64, error) {
	var removed int64
	err := func() error {
		info, err := server.Fetch(ctx, c)
		if err != nil {
			return err
		}
		conn := c.Conn()
		defer conn.Close()
		for db, keys := range info.Keyspace {
			if keys == 0 || dbs != nil && !slices.Contains(dbs, db) {
				continue
			}
			n, err := unlinkSlotKeys(ctx, conn, info, db, slots, base, nil)
			removed += n
			if err != nil {
				return fmt.Errorf("db %d: %w", db, err)
			}
		}
		return nil
	}()
	return removed, err
}

// isRedferryKey: a checkpoint (any sync's), a checkpoint mark or an import
// record of this sync (base, base:*), never data.
func isRedferryKey(k, base string) bool {
	return strings.HasPrefix(k, checkpoint.KeyPrefix) || k == base || strings.HasPrefix(k, base+":")
}
