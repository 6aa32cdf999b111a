package syncer

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/redferry/redferry/pkg/server"
)

// targetKeyCount counts the keys of every db of the target.
func (s *Syncer) targetKeyCount(ctx context.Context) (int64, error) {
	info, err := server.Fetch(ctx, s.targetCtl)
	if err != nil {
		return 0, fmt.Errorf("the target %s: %w", s.opt.TargetName, err)
	}
	return info.Keys(), nil
}

// flushTarget empties every db of the target.
func (s *Syncer) flushTarget(ctx context.Context) error {
	if err := s.targetCtl.FlushAll(ctx).Err(); err != nil {
		return fmt.Errorf("FLUSHALL on the target %s: %w", s.opt.TargetName, err)
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
