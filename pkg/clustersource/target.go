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
type targetSide struct {
	opt syncer.Options
	c   *redis.Client
}

func newTargetSide(opt syncer.Options) *targetSide {
	o := opt.Target
	o.PoolSize = 2
	return &targetSide{opt: opt, c: server.NewClient(o)}
}

func (t *targetSide) close() error { return t.c.Close() }

// prepareTarget decides once, for every shard, what the shards' syncers
// would each decide for a standalone source: a target holding keys and no
// checkpoint of this sync is emptied (flush-target), kept (merge) or
// refused. The shards then all run as merges into the shared target. Before
// a first full sync it waits while slots migrate, so that no key is in two
// shards' snapshots.
func (sv *Supervisor) prepareTarget(ctx context.Context, topo Topology) error {
	t := sv.target
	base := sv.opt.Sync.CheckpointKey
	ours, err := t.checkpointKeys(ctx, base)
	if err != nil {
		return err
	}
	_, names, err := sv.nameAll(topo)
	if err != nil {
		return err
	}
	fresh := 0
	for _, n := range names {
		if (sv.selected == nil || sv.selected[n]) && !ours[base+":"+n] {
			fresh++
		}
	}
	if fresh == 0 {
		return nil
	}
	if len(ours) == 0 {
		info, err := server.Fetch(ctx, t.c)
		if err != nil {
			return fmt.Errorf("the target %s: %w", sv.opt.Sync.TargetName, err)
		}
		if keys := info.Keys(); keys > 0 {
			switch {
			case sv.opt.Sync.FlushTarget:
				sv.log.Warn("emptying the target before the first sync of the cluster's shards (flush-target)", zap.Int64("keys", keys))
				if err := t.c.FlushAll(ctx).Err(); err != nil {
					return fmt.Errorf("FLUSHALL on the target %s: %w", sv.opt.Sync.TargetName, err)
				}
			case !sv.opt.Sync.Merge:
				return fmt.Errorf("the target %s holds %d keys and no redferry checkpoint of this sync (%s:*): "+
					"give --flush-target to empty it first, or --merge to keep its keys (same-named keys are replaced)",
					sv.opt.Sync.TargetName, keys, base)
			}
		}
	}
	return sv.waitNoMigration(ctx, topo)
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

// checkpointKeys lists the checkpoint keys of this sync's shards in db 0.
func (t *targetSide) checkpointKeys(ctx context.Context, base string) (map[string]bool, error) {
	out := map[string]bool{}
	pattern := globEscape(base) + ":*"
	iter := t.c.Scan(ctx, 0, pattern, 1000).Iterator()
	for iter.Next(ctx) {
		if k := iter.Val(); k != importsKey(base) && k != asmKey(base) {
			out[k] = true
		}
	}
	if err := iter.Err(); err != nil {
		return nil, fmt.Errorf("looking for the shards' checkpoints in the target %s: %w", t.opt.TargetName, err)
	}
	return out, nil
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

// loadImports reads the import records from every db of the target.
func (t *targetSide) loadImports(ctx context.Context) (map[importKey]string, error) {
	info, err := server.Fetch(ctx, t.c)
	if err != nil {
		return nil, fmt.Errorf("the target %s: %w", t.opt.TargetName, err)
	}
	out := map[importKey]string{}
	conn := t.c.Conn()
	defer conn.Close()
	for db := range info.Keyspace {
		if err := conn.Select(ctx, db).Err(); err != nil {
			return nil, fmt.Errorf("SELECT %d on the target: %w", db, err)
		}
		recs, err := conn.HGetAll(ctx, importsKey(t.opt.CheckpointKey)).Result()
		if err != nil {
			return nil, fmt.Errorf("reading the key migrations recorded in the target: %w", err)
		}
		for f, shard := range recs {
			if k, ok := parseField(f); ok {
				out[k] = shard
			}
		}
	}
	return out, nil
}

// forgetImports removes finished import records from the target.
func (t *targetSide) forgetImports(ctx context.Context, keys []importKey) error {
	conn := t.c.Conn()
	defer conn.Close()
	for _, k := range keys {
		db, _ := t.opt.Filter.TargetDB(k.db)
		if err := conn.Select(ctx, db).Err(); err != nil {
			return err
		}
		if err := conn.HDel(ctx, importsKey(t.opt.CheckpointKey), recordField(k.db, []byte(k.key))).Err(); err != nil {
			return err
		}
	}
	return nil
}
