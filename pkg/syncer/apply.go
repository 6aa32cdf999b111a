package syncer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/checkpoint"
	"github.com/redferry/redferry/pkg/spool"
	"github.com/redferry/redferry/sink"
)

// applier replays the spool into the target, one batch at a time, each
// batch closed by its checkpoint.
type applier struct {
	s     *Syncer
	log   *zap.Logger
	batch *sink.Batch
	// pipe applies each batch while the next one is built.
	pipe *sink.Pipeline
	// err is the first failure of a batch applied in the background.
	errMu sync.Mutex
	err   error
	// onceTarget: with Once, stop when the applied offset reaches this
	// source offset; -1 otherwise.
	onceTarget int64
	// span describes the batch being built, for the record of a command
	// the target rejects in it.
	span batchSpan
	// gateRelease releases the Options.Gate hold of the batch being built
	// (nil: none held), exclusive whether it is the exclusive one, alone the
	// commands admitted Alone in the batch; see stream_gate.go.
	gateRelease func(applied bool, alone []Admission)
	exclusive   bool
	alone       []Admission
}

// apply waits for the snapshot when there is one to take, replays it, then
// follows the stream. With Once it returns nil when the target has caught up.
func (s *Syncer) apply(ctx context.Context, p plan, snapshotReady <-chan *spool.SnapshotFollower) error {
	a := &applier{s: s, log: s.log.With(zap.String("stage", "apply")), batch: &sink.Batch{}, onceTarget: -1,
		pipe: s.target.NewPipeline()}
	// Whatever ends the applier, the batch in flight lands (or fails) before
	// it returns: a restart must not read a checkpoint that is about to move.
	defer func() { _ = a.pipe.Wait(context.WithoutCancel(ctx)) }()
	streamFrom, db := p.streamFrom, p.db
	if p.snapshot {
		var follower *spool.SnapshotFollower
		select {
		case <-ctx.Done():
			return ctx.Err()
		case follower = <-snapshotReady:
		}
		if g, ok := s.opt.Gate.(SnapshotGate); ok {
			if err := g.BeforeSnapshot(ctx); err != nil {
				return err
			}
		}
		var (
			start streamStart
			err   error
		)
		if follower != nil {
			defer follower.Close()
			start, err = a.replayFollowedSnapshot(ctx, follower)
		} else {
			// A resumed replay deletes each key before rebuilding it, also from
			// the first key: batches of a window may have landed beyond the
			// checkpoint (snapshot_window.go).
			start, err = a.replaySpooledSnapshot(ctx, p.snapshotPos, !p.fullSync || s.opt.Merge)
		}
		if err != nil {
			return err
		}
		streamFrom, db = start.offset, start.db
		if s.opt.Once {
			off, err := s.sourceOffset(ctx)
			if err != nil {
				return err
			}
			a.onceTarget = max(off, streamFrom)
			a.log.Info("snapshot applied: catching up with the source's offset, then exiting (once)", zap.Int64("source_offset", off))
		}
	} else if s.opt.Once {
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

// commit starts applying the batch with st as its checkpoint and returns
// while the target executes it, so the next batch is built meanwhile
// (sink.Pipeline: batches still reach the target one after the other). The
// batch is applied even when ctx ends (a clean stop finishes it), within
// IOTimeout. An error of this batch comes back from the next commit or wait.
func (a *applier) commit(ctx context.Context, st checkpoint.State) error {
	return a.commitThen(ctx, st, nil)
}

// commitThen is commit with after run once the batch is applied.
func (a *applier) commitThen(ctx context.Context, st checkpoint.State, after func()) error {
	if err := a.asyncErr(); err != nil {
		return err
	}
	// The rate limits pace the batches; a stopping sync applies its last
	// batch without waiting.
	_ = a.s.opt.Limits.Wait(ctx, a.batch.Len(), a.batch.Size())
	st.UpdatedAt = time.Now()
	a.s.store.Attach(a.batch, st)
	if a.s.targetCluster() != nil {
		a.batch.OnExecRejected = a.onExecRejected(st, a.span)
	}
	applyCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.s.opt.Target.IOTimeout*4)
	n := a.batch.Len()
	span := a.span
	release := a.takeGate()
	err := a.pipe.Apply(applyCtx, a.batch, func(err error) {
		defer cancel()
		if release != nil {
			defer func() { release(err == nil) }()
		}
		if err != nil {
			var te *sink.TargetError
			if errors.As(err, &te) {
				a.s.tracker.AddTargetErrors(int64(1 + te.Others))
				if te.Applied {
					// Runs before the pipeline could send anything else.
					a.setAsyncErr(a.recordRejected(ctx, st, span, te))
					return
				}
			}
			a.setAsyncErr(fmt.Errorf("applying a batch of %d commands (checkpoint offset %d): %w", n, st.Offset, err))
			return
		}
		if err := a.s.store.Committed(applyCtx, st); err != nil {
			a.setAsyncErr(fmt.Errorf("saving the checkpoint: %w", err))
			return
		}
		a.s.tracker.AddCommands(int64(n))
		if after != nil {
			after()
		}
	})
	if err != nil {
		cancel()
		if release != nil {
			release(false)
		}
		if aerr := a.asyncErr(); aerr != nil {
			return aerr
		}
		return fmt.Errorf("applying a batch (checkpoint offset %d): %w", st.Offset, err)
	}
	return nil
}

// wait waits for the batch in flight, even when ctx has ended, and returns
// its error.
func (a *applier) wait(ctx context.Context) error {
	if err := a.pipe.Wait(context.WithoutCancel(ctx)); err != nil {
		if aerr := a.asyncErr(); aerr != nil {
			return aerr
		}
		return fmt.Errorf("applying a batch: %w", err)
	}
	return a.asyncErr()
}

func (a *applier) setAsyncErr(err error) {
	a.errMu.Lock()
	defer a.errMu.Unlock()
	if a.err == nil {
		a.err = err
	}
}

func (a *applier) asyncErr() error {
	a.errMu.Lock()
	defer a.errMu.Unlock()
	return a.err
}

// recordRejected writes st, the checkpoint of a batch the target applied
// but for the commands in te, again with those commands recorded in it (see
// rejected.go), and returns the error that stops the sync.
func (a *applier) recordRejected(ctx context.Context, st checkpoint.State, span batchSpan, te *sink.TargetError) error {
	st.UpdatedAt = time.Now()
	st.Rejected, st.RejectedOmitted = rejections(te.Rejected, span, st.UpdatedAt)
	// First where no round trip can lose it (rejected_pending.go).
	perr := a.s.savePendingRejection(st, false)
	if perr != nil {
		a.log.Error("could not keep the record of a rejected command in the state dir: writing it to the target only", zap.Error(perr))
	}
	// Not bounded by the run's context: a stop must not lose the record.
	recCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.s.opt.Target.IOTimeout*4)
	defer cancel()
	rerr := a.s.store.Record(recCtx, st)
	if rerr == nil && perr == nil {
		a.s.dropPendingRejection()
	}
	for _, r := range st.Rejected {
		a.log.Error("the target rejected a command: stopping until the operator retries or skips it",
			zap.String("command", r.Command), zap.String("key", r.Key), zap.Int64("offset", r.Offset), zap.Int("db", r.DB),
			zap.String("reply", r.Answer), zap.Bool("recorded", rerr == nil))
	}
	if rerr == nil && !span.snapshot {
		a.s.tracker.SetApplied(st.Offset)
	}
	rejErr := &RejectedError{State: st, RecordErr: rerr}
	if rerr != nil && perr == nil {
		rejErr.Pending = a.s.pendingRejectionPath()
	}
	return rejErr
}

// targetDB is the target db that source db db is written to; 0 for a db
// the filter leaves out, whose commands are dropped until the next SELECT.
func (a *applier) targetDB(db int) int {
	to, taken := a.s.opt.Filter.TargetDB(db)
	if !taken {
		return 0
	}
	return to
}
