package clustersource

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/retry"
	"github.com/redferry/redferry/pkg/server"
)

// asmTrimOrphans applies a trim of slots that no migration this sync
// followed explains (atomic_trim.go): it deletes the target's keys of
// ranges that the slots' owners do not hold now. It holds the gate
// exclusively, so that no shard's batch lands meanwhile: a key the owner
// holds now stays (its stream writes it), one it does not hold goes (were
// it created and deleted since its link's position, its stream does both
// again). An owner that is followed but cannot be asked keeps its keys.
func (sv *Supervisor) asmTrimOrphans(ctx context.Context, shard string, ranges [][2]int) error {
	owners := sv.trimOwners(ctx, shard, ranges)
	sv.migr.gate.Lock()
	defer sv.migr.gate.Unlock()
	ownerClients := map[string]*redis.Client{}
	defer func() {
		for _, c := range ownerClients {
			if c != nil {
				_ = c.Close()
			}
		}
	}()
	// holds says whether the owner of slot holds key in source db db: false
	// when the owner is not followed; true when it cannot be asked.
	holds := func(slot, db int, key string) bool {
		owner := owners[slot]
		if owner == "" || owner == shard {
			return owner != ""
		}
		if sv.selected != nil && !sv.selected[owner] {
			return false
		}
		c, seen := ownerClients[owner]
		if !seen {
			var err error
			if c, err = sv.masterClient(owner); err != nil {
				c = nil
			}
			ownerClients[owner] = c
		}
		if c == nil {
			return true
		}
		var n *redis.IntCmd
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			p.Select(ctx, db)
			n = p.Exists(ctx, key)
			return nil
		})
		return err != nil || n.Val() > 0
	}
	deleted, err := sv.deleteSlotKeys(ctx, ranges, func(slot, db int, key string) bool { return holds(slot, db, key) })
	if err != nil {
		return fmt.Errorf("applying shard %s's trim of slots %s: %w", shard, formatRanges(ranges), err)
	}
	sv.log.Info("applied a trim of slots: the target's keys of them that their owner does not hold are deleted",
		zap.String("shard", shard), zap.String("slots", formatRanges(ranges)), zap.Int("deleted", deleted))
	return nil
}

// asmClearSlots runs take with the gate held exclusively and, when it
// says so, deletes every key of ranges from the target before the gate is
// released.
func (sv *Supervisor) asmClearSlots(ctx context.Context, ranges [][2]int, take func() bool) error {
	sv.migr.gate.Lock()
	defer sv.migr.gate.Unlock()
	if !take() {
		return nil
	}
	deleted, err := sv.deleteSlotKeys(ctx, ranges, func(int, int, string) bool { return false })
	if err != nil {
		return fmt.Errorf("deleting the target's keys of slots %s: %w", formatRanges(ranges), err)
	}
	sv.log.Info("deleted the target's keys of slots an importer's copy replaces", zap.String("slots", formatRanges(ranges)),
		zap.Int("deleted", deleted))
	return nil
}

// deleteSlotKeys deletes the target's keys of ranges but those keep says
// to keep (given the slot, the source db and the key), and the sync's own
// (isRedferryKey), in the target dbs the sync writes (eachSlotKey lists
// them).
func (sv *Supervisor) deleteSlotKeys(ctx context.Context, ranges [][2]int, keep func(slot, db int, key string) bool) (int, error) {
	var slots [server.SlotCount]bool
	for _, r := range ranges {
		for slot := max(r[0], 0); slot <= r[1] && slot < server.SlotCount; slot++ {
			slots[slot] = true
		}
	}
	// Source db of each target db.
	sourceDB := map[int]int{}
	for d := 15; d >= 0; d-- {
		if to, ok := sv.opt.Sync.Filter.TargetDB(d); ok {
			sourceDB[to] = d
		}
	}
	base := sv.opt.Sync.CheckpointKey
	var deleted int64
	err := sv.target.forEachMaster(ctx, func(addr string, c *redis.Client) error {
		info, err := server.Fetch(ctx, c)
		if err != nil {
			return fmt.Errorf("the target (%s): %w", addr, err)
		}
		conn := c.Conn()
		defer conn.Close()
		for tdb := range info.Keyspace {
			sdb, ok := sourceDB[tdb]
			if !ok {
				continue
			}
			n, err := unlinkSlotKeys(ctx, conn, info, tdb, &slots, base, func(k string) bool {
				return keep(server.KeySlot(k), sdb, k)
			})
			deleted += n
			if err != nil {
				return fmt.Errorf("deleting the keys of the slots from db %d of the target (%s): %w", tdb, addr, err)
			}
		}
		return nil
	})
	return int(deleted), err
}

// trimOwners reads who owns the slots now: the topology the links follow
// may not show yet that shard lost them (a Redis exporter trims at once).
// A slot still shown as shard's after a few reads keeps its keys.
func (sv *Supervisor) trimOwners(ctx context.Context, shard string, ranges [][2]int) [server.SlotCount]string {
	sv.migr.mu.Lock()
	owners := sv.migr.owners
	sv.migr.mu.Unlock()
	for range 20 {
		stale := false
		for _, r := range ranges {
			for slot := r[0]; slot <= r[1]; slot++ {
				stale = stale || owners[slot] == shard
			}
		}
		if !stale {
			return owners
		}
		if topo, err := sv.discover(ctx, false); err == nil {
			if topo, names, err := sv.nameAll(ctx, topo); err == nil {
				owners = [server.SlotCount]string{}
				for i, s := range topo.Shards {
					for _, r := range s.Slots {
						for slot := r.Start; slot <= r.End && slot < server.SlotCount; slot++ {
							owners[slot] = names[i]
						}
					}
				}
			}
		}
		if err := retry.Sleep(ctx, 100*time.Millisecond); err != nil {
			break
		}
	}
	sv.log.Warn("the source's topology still shows a trimmed slot as served by the trimming shard: its keys stay in the target",
		zap.String("shard", shard), zap.String("slots", formatRanges(ranges)))
	return owners
}
