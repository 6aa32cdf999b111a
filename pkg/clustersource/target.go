package clustersource

import (
	"context"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/server"
	"github.com/redferry/redferry/pkg/syncer"
)

// targetSide is the supervisor's own control connection to the target:
// the first-sync decision for all shards at once, and the import records.
// The target is a standalone server or a cluster; a cluster's keys, marks
// and records are spread over its masters, so every question goes to each
// of them (forEachMaster).
type targetSide struct {
	opt syncer.Options
	c   *redis.Client // the node given
	// legacyImports: the target held import records in the one hash of
	// releases before the hash per slot (target_imports.go).
	legacyImports bool
}

func newTargetSide(opt syncer.Options) *targetSide {
	o := opt.Target
	o.PoolSize = 2
	return &targetSide{opt: opt, c: server.NewClient(o)}
}

func (t *targetSide) close() error { return t.c.Close() }

// masters lists the target's masters as the node given sees them now: the
// node itself when the target is not a cluster. cluster says which.
func (t *targetSide) masters(ctx context.Context) (addrs []string, cluster bool, err error) {
	info, err := server.Fetch(ctx, t.c)
	if err != nil {
		return nil, false, fmt.Errorf("the target %s: %w", t.opt.TargetName, err)
	}
	if !info.ClusterEnabled {
		return []string{t.opt.Target.Addr}, false, nil
	}
	nodes, err := server.ClusterMasters(ctx, t.c)
	if err != nil {
		return nil, true, fmt.Errorf("the target cluster %s: %w", t.opt.TargetName, err)
	}
	for _, n := range nodes {
		if len(n.Slots) > 0 {
			addrs = append(addrs, n.Addr)
		}
	}
	return addrs, true, nil
}

// forEachMaster runs f with a client of each master of the target (the
// one server of a standalone target).
func (t *targetSide) forEachMaster(ctx context.Context, f func(addr string, c *redis.Client) error) error {
	addrs, cluster, err := t.masters(ctx)
	if err != nil {
		return err
	}
	if !cluster {
		return f(t.opt.Target.Addr, t.c)
	}
	return server.ForEachNode(addrs, t.opt.Target, f)
}

// prepareTarget decides once, for every shard, what the shards' syncers
// would each decide for a standalone source: a target holding keys and no
// checkpoint of this sync is emptied (flush-target), kept (merge) or
// refused. With a target that held nothing of this sync (empty or emptied)
// the shards apply their snapshots while they download (overlapFirst);
// otherwise they merge into the shared target. Before
// a first full sync it waits while slots migrate, so that no key is in two
// shards' snapshots.
func (sv *Supervisor) prepareTarget(ctx context.Context, topo Topology) error {
	t := sv.target
	base := sv.opt.Sync.CheckpointKey
	ours, err := t.checkpointKeys(ctx, base)
	if err != nil {
		return err
	}
	_, names, err := sv.nameAll(ctx, topo)
	if err != nil {
		return err
	}
	fresh := 0
	for _, n := range names {
		if (sv.selected == nil || sv.selected[n]) && !ours[base+":"+n] {
			fresh++
			if len(ours) > 0 {
				// Its full sync joins shards that resume their streams,
				// as a master added later does (lateSnapshot).
				sv.mu.Lock()
				sv.fresh[n] = true
				sv.mu.Unlock()
			}
		}
	}
	if fresh == 0 {
		return nil
	}
	sv.overlapFirst = len(ours) == 0 && !sv.opt.Sync.Merge
	if len(ours) == 0 {
		keys, err := t.keyCount(ctx)
		if err != nil {
			return err
		}
		if keys > 0 {
			switch {
			case sv.opt.Sync.FlushTarget:
				sv.log.Warn("emptying the target before the first sync of the cluster's shards (flush-target)", zap.Int64("keys", keys))
				if err := t.flushAll(ctx); err != nil {
					return err
				}
			case !sv.opt.Sync.Merge:
				return fmt.Errorf("the target %s holds %d keys and no redferry checkpoint of this sync (%s:*): "+
					"give --flush-target to empty it first, or --merge to keep its keys (same-named keys are replaced)",
					sv.opt.Sync.TargetName, keys, base)
			}
		}
	}
	if err := sv.waitNoMigration(ctx, topo); err != nil {
		return err
	}
	sv.notePreFresh(ctx, topo)
	return nil
}

// keyCount counts the keys of every db of every master of the target.
func (t *targetSide) keyCount(ctx context.Context) (int64, error) {
	var n int64
	err := t.forEachMaster(ctx, func(addr string, c *redis.Client) error {
		info, err := server.Fetch(ctx, c)
		if err != nil {
			return fmt.Errorf("the target %s (%s): %w", t.opt.TargetName, addr, err)
		}
		n += info.Keys()
		return nil
	})
	return n, err
}

// flushAll empties every master of the target. It runs before any shard's
// syncer exists (prepareTarget, once, before the first reconcile): each
// shard's writer reads its marks after it (sink/forget.go).
func (t *targetSide) flushAll(ctx context.Context) error {
	return t.forEachMaster(ctx, func(addr string, c *redis.Client) error {
		if err := c.FlushAll(ctx).Err(); err != nil {
			return fmt.Errorf("FLUSHALL on the target %s (%s): %w", t.opt.TargetName, addr, err)
		}
		return nil
	})
}

// waitNoMigration waits until no master imports or exports a slot.
func (sv *Supervisor) waitNoMigration(ctx context.Context, topo Topology) error {
	logged := false
	for {
		if err := markMigrating(ctx, &topo, sv.opt.Sync.Source); err != nil {
			return err
		}
		if !topo.Migrating() && !sv.atomicMigrating(ctx, topo) {
			return nil
		}
		if !logged {
			sv.log.Warn("slots are migrating between the source's masters: the first full sync waits until they are done, so that no key is in two snapshots")
			logged = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-sleep(sv.opt.Poll):
		}
		if t, err := sv.discover(ctx, true); err == nil {
			topo = t
		}
	}
}

// checkpointKeys lists the checkpoint keys of this sync's shards found in
// db 0 of every master of the target, by the shards' checkpoint key
// (<base>:<shard>): on a cluster target each shard keeps one mark per slot,
// <base>:<shard>{tag} (sink/cluster_mark.go), all standing for it.
func (t *targetSide) checkpointKeys(ctx context.Context, base string) (map[string]bool, error) {
	out := map[string]bool{}
	pattern := globEscape(base) + ":*"
	err := t.forEachMaster(ctx, func(addr string, c *redis.Client) error {
		iter := c.Scan(ctx, 0, pattern, 1000).Iterator()
		for iter.Next(ctx) {
			k := iter.Val()
			if isImportsKey(base, k) || k == importsPrefix(base) || k == asmKey(base) { // and an older redferry's one hash
				continue
			}
			if i := strings.IndexByte(k, '{'); i > len(base) {
				k = k[:i]
			}
			out[k] = true
		}
		if err := iter.Err(); err != nil {
			return fmt.Errorf("looking for the shards' checkpoints in the target %s (%s): %w", t.opt.TargetName, addr, err)
		}
		return nil
	})
	return out, err
}

func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
