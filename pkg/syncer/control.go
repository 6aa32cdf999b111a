package syncer

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/redferry/redferry/pkg/server"
)

// targetKeyCount counts the keys of every db of the target, or with
// filter-dbs of the dbs the sync writes to (the others are not its concern).
func (s *Syncer) targetKeyCount(ctx context.Context) (int64, error) {
	if cl := s.targetCluster(); cl != nil {
		return s.clusterKeyCount(ctx, cl)
	}
	info, err := server.Fetch(ctx, s.targetCtl)
	if err != nil {
		return 0, fmt.Errorf("the target %s: %w", s.opt.TargetName, err)
	}
	dbs := s.opt.Filter.SourceDBs()
	if dbs == nil {
		return info.Keys(), nil
	}
	var n int64
	for _, db := range dbs {
		to, _ := s.opt.Filter.TargetDB(db)
		n += info.Keyspace[to]
	}
	return n, nil
}

// flushTarget empties the target: every db, or with filter-dbs the dbs the
// sync writes to. The writer then forgets the checkpoint it read
// (sink/forget.go): a cluster target's marks went with the flush.
func (s *Syncer) flushTarget(ctx context.Context) error {
	// Whether the flush completes or not, the marks read before no longer
	// describe the target; a later start reads them again.
	s.target.ForgetCheckpoint()
	if cl := s.targetCluster(); cl != nil {
		return s.flushCluster(ctx, cl)
	}
	dbs := s.opt.Filter.SourceDBs()
	if dbs == nil {
		if err := s.targetCtl.FlushAll(ctx).Err(); err != nil {
			return fmt.Errorf("FLUSHALL on the target %s: %w", s.opt.TargetName, err)
		}
		return nil
	}
	// With filter-dbs only the dbs written to are emptied: the target's
	// other dbs are none of this sync's business.
	conn := s.targetCtl.Conn()
	defer conn.Close()
	for _, db := range dbs {
		to, _ := s.opt.Filter.TargetDB(db)
		if err := conn.Select(ctx, to).Err(); err != nil {
			return fmt.Errorf("SELECT %d on the target %s: %w", to, s.opt.TargetName, err)
		}
		if err := conn.FlushDB(ctx).Err(); err != nil {
			return fmt.Errorf("FLUSHDB of db %d on the target %s: %w", to, s.opt.TargetName, err)
		}
	}
	if s.opt.CheckpointKey != "" {
		// As FLUSHALL would: a new full sync starts without a checkpoint.
		if err := conn.Select(ctx, 0).Err(); err != nil {
			return fmt.Errorf("SELECT 0 on the target %s: %w", s.opt.TargetName, err)
		}
		if err := conn.Del(ctx, s.opt.CheckpointKey).Err(); err != nil {
			return fmt.Errorf("deleting the checkpoint key on the target %s: %w", s.opt.TargetName, err)
		}
	}
	return nil
}

// sourceOffset is the source's master_repl_offset now.
func (s *Syncer) sourceOffset(ctx context.Context) (int64, error) {
	info, err := s.sourceCtl.Info(ctx, "replication").Result()
	if err != nil {
		return 0, fmt.Errorf("INFO replication on the source %s: %w", s.opt.SourceName, err)
	}
	off, err := server.ReplOffset(info)
	if err != nil {
		return 0, fmt.Errorf("the source %s: %w", s.opt.SourceName, err)
	}
	return off, nil
}

func removeFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing %s: %w", path, err)
	}
	return nil
}
