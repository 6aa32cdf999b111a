package syncer

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/checkpoint"
	"github.com/redferry/redferry/pkg/config"
	"github.com/redferry/redferry/sink"
)

// checkpointKeyPrefix starts every checkpoint key redferry writes by default.
const checkpointKeyPrefix = checkpoint.KeyPrefix

// checkpointKey is the target key holding the checkpoint. The default is
// named after the sync, not after the source's address, so that pointing
// redferry at a promoted replica (another address) finds the checkpoint.
func checkpointKey(cfg config.Config) string {
	if cfg.CheckpointKey != "" {
		return cfg.CheckpointKey
	}
	name := cfg.Name
	if name == "" {
		name = "default"
	}
	return checkpointKeyPrefix + name
}

// connectTarget connects to the target, waiting with backoff while it is
// unreachable or restarting: a target down at startup is a reason to wait,
// not to exit. Refused credentials end the wait at once.
func connectTarget(ctx context.Context, log *zap.Logger, dst config.Endpoint, cfg sink.Config) (*sink.Standalone, error) {
	var bo backoff
	for attempt := 1; ; attempt++ {
		t, err := sink.NewStandalone(ctx, cfg)
		if err == nil {
			return t, nil
		}
		if errors.Is(err, sink.ErrAuth) || ctx.Err() != nil {
			return nil, err
		}
		wait := bo.next()
		log.Warn("target unreachable: retrying", zap.String("target", dst.String()), zap.Int("attempt", attempt),
			zap.Duration("in", wait), zap.Error(err))
		if err := sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("still unreachable when stopped: %w", errors.Join(err, ctx.Err()))
		}
	}
}

// adoptLegacyCheckpoint renames the checkpoint key of redferry versions that
// named it after the source's host:port to the current default key, so an
// upgrade continues where the old version stopped instead of starting over.
func (s *Syncer) adoptLegacyCheckpoint(ctx context.Context, key string) error {
	legacy := checkpointKeyPrefix + s.src.Addr
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
