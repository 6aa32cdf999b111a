package clustersource

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/redferry/redferry/pkg/server"
)

// The keys of a set of slots on one node of the target: a shard's new full
// sync removes its slots' keys (scope.go), a trim or a takeover of slots
// removes theirs (supervisor_trim.go).

const (
	// indexedSlotsMax: up to this many slots, a cluster node's keys of the
	// set are listed by slot (CLUSTER COUNTKEYSINSLOT, GETKEYSINSLOT: only
	// those keys are read); above it, by one SCAN of the db. The counts
	// take one command per slot of the set, in one pipeline; a set much
	// larger is a good part of a node's share of the 16384 slots (a
	// shard's slots of a cluster of a few masters), where SCAN reads about
	// as many keys and needs no per-slot commands.
	indexedSlotsMax = 1024
	// slotListMax: a slot holding more keys than this (a hash tag piling
	// keys into one slot) is not listed in one reply; the db is scanned.
	slotListMax = 100_000
	// slotKeyChunk is about how many keys a reply (SCAN COUNT, a
	// pipeline of GETKEYSINSLOT) and a call of the callback carry.
	slotKeyChunk = 1000
)

// eachSlotKey calls f with the keys of slots in db of the node conn is
// connected to (node is its INFO), in chunks, until f fails. Every key of
// the slots present in the db from the start to the end is handed once
// (a key added or deleted meanwhile may or may not be); f may delete keys
// it is handed. conn is back in db 0 after, as a pooled connection must be.
//
// A cluster node lists a small set by slot (indexedSlotsMax), each slot's
// keys in one reply taken before f sees any of them, so that deleting
// them does not shift what is listed next. Every slot of the set is asked,
// served or not, as SCAN would find a key of a slot the node does not serve
// (one it imports). A standalone server has no index by slot: its db is
// scanned and the keys of the slots picked out.
func eachSlotKey(ctx context.Context, conn *redis.Conn, node server.Info, db int, slots *[server.SlotCount]bool, f func(keys []string) error) error {
	if err := conn.Select(ctx, db).Err(); err != nil {
		return fmt.Errorf("SELECT %d: %w", db, err)
	}
	if db != 0 {
		defer conn.Select(ctx, 0)
	}
	if node.KeysInSlot(db) {
		var set []int
		for slot, in := range slots {
			if in {
				set = append(set, slot)
			}
		}
		if len(set) <= indexedSlotsMax {
			counts, err := countKeysInSlots(ctx, conn, set)
			var refused redis.Error
			if errors.As(err, &refused) {
				// Refused (an ACL user without +cluster|countkeysinslot):
				// SCAN needs no such right.
				counts, err = nil, nil
			}
			if err != nil {
				return err
			}
			if counts != nil {
				return listKeysInSlots(ctx, conn, set, counts, f)
			}
		}
	}
	return scanSlotKeys(ctx, conn, slots, f)
}

// countKeysInSlots returns how many keys each slot of set holds, or nil
// when one holds more than slotListMax.
func countKeysInSlots(ctx context.Context, conn *redis.Conn, set []int) ([]int64, error) {
	if len(set) == 0 {
		return []int64{}, nil
	}
	cmds, err := conn.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, slot := range set {
			p.ClusterCountKeysInSlot(ctx, slot)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("CLUSTER COUNTKEYSINSLOT: %w", err)
	}
	counts := make([]int64, len(set))
	for i, c := range cmds {
		if counts[i] = c.(*redis.IntCmd).Val(); counts[i] > slotListMax {
			return nil, nil
		}
	}
	return counts, nil
}

// listKeysInSlots hands f the keys of the slots of set with keys, a
// pipeline of GETKEYSINSLOT (about slotKeyChunk keys) at a time.
func listKeysInSlots(ctx context.Context, conn *redis.Conn, set []int, counts []int64, f func(keys []string) error) error {
	for i := 0; i < len(set); {
		var batch []int // indexes into set
		var want int64
		for ; i < len(set) && (want < slotKeyChunk || len(batch) == 0); i++ {
			if counts[i] > 0 {
				batch = append(batch, i)
				want += counts[i]
			}
		}
		if len(batch) == 0 {
			return nil
		}
		cmds, err := conn.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, j := range batch {
				// A little over the count: a key written between the
				// count and now must not push one present since out.
				p.ClusterGetKeysInSlot(ctx, set[j], int(counts[j]+counts[j]/8+16))
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("CLUSTER GETKEYSINSLOT: %w", err)
		}
		keys := make([]string, 0, want)
		for _, c := range cmds {
			keys = append(keys, c.(*redis.StringSliceCmd).Val()...)
		}
		if err := f(keys); err != nil {
			return err
		}
	}
	return nil
}

// scanSlotKeys is eachSlotKey by SCAN: the whole db is read.
func scanSlotKeys(ctx context.Context, conn *redis.Conn, slots *[server.SlotCount]bool, f func(keys []string) error) error {
	var cursor uint64
	for {
		keys, next, err := conn.Scan(ctx, cursor, "", slotKeyChunk).Result()
		if err != nil {
			return fmt.Errorf("SCAN: %w", err)
		}
		in := keys[:0]
		for _, k := range keys {
			if slots[server.KeySlot(k)] {
				in = append(in, k)
			}
		}
		if len(in) > 0 {
			if err := f(in); err != nil {
				return err
			}
		}
		if cursor = next; cursor == 0 {
			return nil
		}
	}
}

// unlinkSlotKeys deletes (UNLINK) the keys of slots in db of the node conn
// is connected to (node is its INFO), except redferry's own keys
// (isRedferryKey) and those keep says to keep (nil: none). It returns how
// many went.
func unlinkSlotKeys(ctx context.Context, conn *redis.Conn, node server.Info, db int, slots *[server.SlotCount]bool,
	base string, keep func(key string) bool) (int64, error) {
	var removed int64
	err := eachSlotKey(ctx, conn, node, db, slots, func(keys []string) error {
		doomed := keys[:0]
		for _, k := range keys {
			if !isRedferryKey(k, base) && (keep == nil || !keep(k)) {
				doomed = append(doomed, k)
			}
		}
		if len(doomed) == 0 {
			return nil
		}
		// One key per UNLINK: on a cluster node a command's keys must
		// share a slot.
		cmds, err := conn.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range doomed {
				p.Unlink(ctx, k)
			}
			return nil
		})
		for i, c := range cmds {
			if c.Err() != nil {
				return fmt.Errorf("UNLINK %q: %w", doomed[i], c.Err())
			}
			removed += c.(*redis.IntCmd).Val()
		}
		return err
	})
	return removed, err
}
