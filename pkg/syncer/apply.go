package syncer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/checkpoint"
	"github.com/redferry/redferry/sink"
)

// applier replays the spool into the target, one batch at a time, each
// batch closed by its checkpoint.
type applier struct {
	s     *Syncer
	log   *zap.Logger
	batch *sink.Batch
	// onceTarget: with Once, stop when the applied offset reaches this
	// source offset; -1 otherwise.
	onceTarget int64
}

// apply waits for the snapshot when there is one to take, replays it, then
// follows the stream. With Once it returns nil when the target has caught up.
func (s *Syncer) apply(ctx context.Context, p plan, snapshotReady <-chan struct{}) error {
	a := &applier{s: s, log: s.log.With(zap.String("stage", "apply")), batch: &sink.Batch{}, onceTarget: -1}
	streamFrom, db := p.streamFrom, p.db
	if p.snapshot {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-snapshotReady:
		}
		info, ok := s.spool.Snapshot()
		if !ok {
			return errors.New("internal: the snapshot is not in the spool after the receiver committed it")
		}
		if err := a.replaySnapshot(ctx, info, p.snapshotPos, p.snapshotPos > 0 || s.cfg.Merge); err != nil {
			return err
		}
		streamFrom, db = info.Offset, 0
		if s.cfg.Once {
			off, err := s.sourceOffset(ctx)
			if err != nil {
				return err
			}
			a.onceTarget = max(off, streamFrom)
			a.log.Info("snapshot applied: catching up with the source's offset, then exiting (once)", zap.Int64("source_offset", off))
		}
	} else if s.cfg.Once {
		off, err := s.sourceOffset(ctx)
		if err != nil {
			return err
		}
		a.onceTarget = max(off, streamFrom)
	}
	return a.replayStream(ctx, streamFrom, db)
}

// errOnceDone ends the stream replay in once mode.
var errOnceDone = errors.New("caught up")

// commit applies the batch with st as its checkpoint. The batch in flight is
// applied even when ctx ends (a clean stop finishes it), within IOTimeout.
func (a *applier) commit(ctx context.Context, st checkpoint.State) error {
	st.UpdatedAt = time.Now()
	a.s.store.Attach(a.batch, st)
	applyCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.s.cfg.IOTimeout*4)
	defer cancel()
	n := a.batch.Len()
	if err := a.s.target.Apply(applyCtx, a.batch); err != nil {
		var te *sink.TargetError
		if errors.As(err, &te) {
			a.s.tracker.AddTargetErrors(1)
		}
		return fmt.Errorf("applying a batch of %d commands (checkpoint offset %d): %w", n, st.Offset, err)
	}
	if err := a.s.store.Committed(applyCtx, st); err != nil {
		return fmt.Errorf("saving the checkpoint: %w", err)
	}
	a.s.tracker.AddCommands(int64(n))
	a.batch.Reset()
	return nil
}
