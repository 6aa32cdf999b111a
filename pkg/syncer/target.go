package syncer

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/redferry/redferry/pkg/retry"
	"github.com/redferry/redferry/pkg/sentinel"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/checkpoint"
	"github.com/redferry/redferry/sink"
)

// connectTarget connects to the target, waiting with backoff while it is
// unreachable or restarting: a target down at startup is a reason to wait,
// not to exit. Refused credentials end the wait at once.
func connectTarget(ctx context.Context, log *zap.Logger, name string, cfg sink.Config) (sink.Writer, error) {
	var bo retry.Backoff
	for attempt := 1; ; attempt++ {
		t, err := sink.Open(ctx, cfg)
		if err == nil {
			return t, nil
		}
		if errors.Is(err, sink.ErrAuth) || errors.Is(err, sentinel.ErrAuth) || errors.Is(err, sentinel.ErrUnknownMaster) || ctx.Err() != nil {
			return nil, err
		}
		wait := bo.Next()
		log.Warn("target unreachable: retrying", zap.String("target", name), zap.Int("attempt", attempt),
			zap.Duration("in", wait), zap.Error(err))
		if err := retry.Sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("still unreachable when stopped: %w", errors.Join(err, ctx.Err()))
		}
	}
}

// adoptLegacyCheckpoint renames the checkpoint key of redferry versions that
// named it after the source's host:port to the current default key, so an
// upgrade continues where the old version stopped instead of starting over.
func (s *Syncer) adoptLegacyCheckpoint(ctx context.Context) error {
	legacy, key := s.opt.LegacyCheckpointKey, s.opt.CheckpointKey
	if legacy == key {
		return nil
	}
	// RENAMENX leaves an existing key of the current name alone: it is newer.
	ok, err := s.targetCtl.RenameNX(ctx, legacy, key).Result()
	switch {
	case err != nil && isNoSuchKey(err):
		return nil
	case err != nil:
		return fmt.Errorf("checking the target for an older checkpoint key %s: %w", legacy, err)
	case ok:
		s.log.Info("renamed the checkpoint key of an older redferry", zap.String("from", legacy), zap.String("to", key))
	}
	return nil
}

func isNoSuchKey(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && re.Error() == "ERR no such key"
}

// adoptLegacyLinkFile moves the stream's replid that older redferry versions
// kept in <state-dir>/link/checkpoint.json into the spool's metadata.
func (s *Syncer) adoptLegacyLinkFile(ctx context.Context) error {
	old := checkpoint.NewFileStore(filepath.Join(s.opt.StateDir, "link"))
	st, ok, err := old.Load(ctx)
	if err != nil || !ok {
		return nil // nothing to adopt; a damaged old file only loses a post-failover replid
	}
	if s.spool.StreamReplID() == "" {
		if err := s.spool.SetStreamReplID(st.ReplID); err != nil {
			return err
		}
	}
	return removeFile(old.Path())
}
