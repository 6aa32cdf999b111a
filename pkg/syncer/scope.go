package syncer

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/status"
	"github.com/redferry/redferry/sink"
)

// TargetScope is the part of a shared target (Options.SharedTarget) that
// one sync writes: a shard of a cluster source writes the keys of its
// master's slots. Removing them is that sync's own "empty the target": a
// new full sync of it then neither applies a key twice nor keeps a key its
// source deleted, and the other syncs' keys stay.
type TargetScope interface {
	// Clear removes from the target every key this sync's snapshot or
	// stream may have written, in the target dbs given (nil: every db),
	// leaving redferry's checkpoint keys. It waits until it can tell which
	// keys those are (a cluster source's slots may be migrating).
	Clear(ctx context.Context, dbs []int) error
}

// resetScope starts a new full sync of a sync sharing its target: its keys
// go (TargetScope.Clear), then its checkpoint, then its spool. The order
// makes every crash safe: while the checkpoint stands, a restart clears the
// keys again; without it, the keys are cleared already. The target then
// holds nothing of this sync, so its next snapshot is applied while it
// downloads (scopeCleared).
func (s *Syncer) resetScope(ctx context.Context) error {
	// Other shards hold back their imports while this one is not streaming
	// (a key moved off this shard during its new download must not land
	// before the snapshot's older value of it).
	s.tracker.SetPhase(status.PhaseStarting)
	if err := s.opt.Scope.Clear(ctx, s.targetDBs()); err != nil {
		return fmt.Errorf("removing this sync's keys from the shared target before a new full sync: %w", err)
	}
	if err := s.dropCheckpoint(ctx); err != nil {
		return err
	}
	if err := s.spool.ResetStream(0); err != nil {
		return err
	}
	if err := s.spool.RemoveSnapshot(); err != nil {
		return err
	}
	if err := s.spool.SetStreamReplID(""); err != nil {
		return err
	}
	if err := s.store.Reset(ctx); err != nil {
		return err
	}
	s.scopeCleared = true
	return nil
}

// targetDBs are the target dbs the sync writes to; nil: every db.
func (s *Syncer) targetDBs() []int {
	dbs := s.opt.Filter.SourceDBs()
	if dbs == nil {
		return nil
	}
	out := make([]int, 0, len(dbs))
	for _, db := range dbs {
		to, _ := s.opt.Filter.TargetDB(db)
		out = append(out, to)
	}
	return out
}

// dropCheckpoint deletes this sync's checkpoint from the target (its key,
// or on a cluster target its marks), and no other key.
func (s *Syncer) dropCheckpoint(ctx context.Context) error {
	if s.opt.CheckpointKey == "" {
		return nil // a file checkpoint: store.Reset removes it
	}
	if cl := s.targetCluster(); cl != nil {
		return s.forEachMaster(cl, func(addr string, c *redis.Client) error {
			conn := c.Conn()
			defer conn.Close()
			return deleteClusterMarks(ctx, conn, addr, s.opt.CheckpointKey)
		})
	}
	if err := s.targetCtl.Del(ctx, s.opt.CheckpointKey).Err(); err != nil {
		return fmt.Errorf("deleting the checkpoint key %s on the target %s: %w", s.opt.CheckpointKey, s.opt.TargetName, err)
	}
	return nil
}

// deleteClusterMarks deletes the checkpoint marks of key on one master of a
// cluster target (db 0, where they live).
func deleteClusterMarks(ctx context.Context, conn *redis.Conn, addr, key string) error {
	if err := conn.Select(ctx, 0).Err(); err != nil {
		return fmt.Errorf("SELECT 0 on the target cluster's master %s: %w", addr, err)
	}
	keys, err := sink.ClusterMarkKeys(ctx, conn, key)
	if err != nil {
		return fmt.Errorf("the target cluster's master %s: %w", addr, err)
	}
	for _, k := range keys {
		if err := conn.Del(ctx, k).Err(); err != nil {
			return fmt.Errorf("deleting the checkpoint key %s on the target cluster's master %s: %w", k, addr, err)
		}
	}
	return nil
}

// newSharedFullSync handles what asks a sync sharing its target for a new
// full sync (err: errRestartFullSync or ErrResyncRequired): with a scope it
// removes the sync's own keys and returns nil, so that Run starts again;
// otherwise it returns the error to stop with.
func (s *Syncer) newSharedFullSync(ctx context.Context, err error) error {
	switch {
	case s.opt.Scope == nil:
		return fmt.Errorf("%w; the target is shared with other syncs and this one cannot tell its own keys: "+
			"remove its checkpoint key %s from the target and restart with merge = true (same-named keys are replaced; keys deleted meanwhile stay)",
			err, s.opt.CheckpointKey)
	case errors.Is(err, ErrResyncRequired) && s.opt.OnFullResync != "flush":
		return fmt.Errorf("%w; on-full-resync = %q: stopping. Set on-full-resync = \"flush\" to remove this shard's keys (those of its slots) "+
			"from the shared target and sync it afresh", err, s.opt.OnFullResync)
	}
	s.log.Warn("this shard needs a new full sync: removing the keys of its slots from the shared target (the other shards' stay) and starting it again",
		zap.Error(err))
	if rerr := s.resetScope(ctx); rerr != nil {
		return rerr
	}
	return nil
}
