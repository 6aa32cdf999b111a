package syncer

import (
	"context"
	"errors"

	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/interlock"
	"github.com/redferry/redferry/pkg/retry"
)

// prepare runs once, before the first write of any kind to the target: it
// refuses a target that is the source, replicates from it, or feeds it
// (interlock.CheckSync), then adopts an older redferry's checkpoint key (a
// RENAMENX on the target). It waits with backoff while either server is
// unreachable, as the source link does.
func (s *Syncer) prepare(ctx context.Context) error {
	if s.prepared {
		return nil
	}
	src := interlock.Endpoint{Name: s.opt.SourceName, Client: s.opt.Source}
	dst := interlock.Endpoint{Name: s.opt.TargetName, Client: s.opt.Target}
	var bo retry.Backoff
	for {
		err := interlock.CheckSync(ctx, src, dst, s.log)
		if err == nil {
			break
		}
		if !interlock.Transient(err) || ctx.Err() != nil {
			return err
		}
		wait := bo.Next()
		s.tracker.SetError(err)
		s.log.Warn("a server is unreachable for the safety checks that precede the first write: reconnecting",
			zap.String("source", src.Name), zap.String("target", dst.Name), zap.Duration("in", wait), zap.Error(err))
		if err := retry.Sleep(ctx, wait); err != nil {
			return err
		}
	}
	if s.opt.LegacyCheckpointKey != "" && s.targetCluster() == nil {
		if err := s.adoptLegacyCheckpoint(ctx); err != nil {
			return err
		}
	}
	s.prepared = true
	return nil
}

// stoppedWhilePreparing: prepare ended because ctx did, not because it refused.
func stoppedWhilePreparing(ctx context.Context, err error) bool {
	return ctx.Err() != nil && !errors.Is(err, interlock.ErrRefused)
}
