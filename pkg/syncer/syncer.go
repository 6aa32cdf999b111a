// Package syncer runs a sync: the source link spools the snapshot and the
// command stream to disk (receive.go), and the applier replays both from the
// spool into the target (snapshot.go, stream.go), recording the applied
// offset as it goes (checkpoint.go). Run decides where to start (plan.go).
package syncer

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/checkpoint"
	"github.com/redferry/redferry/pkg/server"
	"github.com/redferry/redferry/pkg/spool"
	"github.com/redferry/redferry/pkg/status"
	"github.com/redferry/redferry/pkg/unholdable"
	"github.com/redferry/redferry/sink"
	"github.com/redferry/redferry/transform"
)

// Syncer replicates one source into one target.
type Syncer struct {
	opt     Options
	log     *zap.Logger
	tracker *status.Tracker

	spool     *spool.Spool
	target    sink.Writer   // a Standalone, or a Cluster when the target is a cluster node
	targetCtl *redis.Client // control plane: emptiness checks, FLUSHALL
	sourceCtl *redis.Client // control plane: INFO
	// sourceInfo is what the source is, for commands whose meaning changed
	// between versions; zero when INFO is not allowed.
	sourceInfo server.Info
	store      checkpointStore
	prepared   bool // the safety checks passed and the legacy checkpoint key is adopted
	// rejectedResolved: the operator's answer to rejected commands
	// (Options.RetryRejected, SkipRejected) was used; it is used once.
	rejectedResolved bool
	// afterPendingRejection, in tests, runs after each record of a rejected
	// command is written to the state dir, before the target's (where a
	// kill or a broken link would land; rejected_pending.go).
	afterPendingRejection func()
	// recorder counts and logs the data the target cannot hold that was
	// skipped or converted, into the tracker.
	recorder *unholdable.Recorder
	// sentinels follow sentinel-managed sides (sentinel.go).
	sentinels *sentinels
	// scopeCleared: this sync's part of a shared target was removed
	// (resetScope), so its next first sync applies the snapshot while it
	// downloads, whatever Merge says.
	scopeCleared bool
	// offered: the link of a FULLRESYNC a run ended on, kept for the next
	// run's full sync (offered.go). The receiver sets and takes it; Run
	// closes it if no run took it. Runs do not overlap.
	offered *offeredSnapshot
	// afterSnapshotOffered, in tests, runs once a FULLRESYNC's link is kept.
	afterSnapshotOffered func()
}

// ErrResyncRequired: the source cannot continue from our offset and sent a
// new snapshot instead.
var ErrResyncRequired = errors.New("the source cannot continue from the saved offset and starts a new full sync")

// errRestartFullSync: a snapshot applied while it downloaded did not arrive
// whole; the target holds only our partial copy of it.
var errRestartFullSync = errors.New("the snapshot being applied was not downloaded whole")

// New opens the state dir and connects to the target; it writes nothing to
// either server (Run checks them first). On an error it releases whatever it
// had opened.
func New(ctx context.Context, opt Options) (_ *Syncer, err error) {
	if err := opt.validate(); err != nil {
		return nil, fmt.Errorf("syncer options: %w", err)
	}
	s := &Syncer{opt: opt, log: opt.Logger, tracker: opt.Tracker}
	if s.tracker == nil {
		s.tracker = status.NewTracker(opt.SourceName, opt.TargetName)
	}
	s.recorder = unholdable.NewRecorder(s.log, s.tracker.AddUnholdable)
	s.sentinels = newSentinels(opt, s.log)
	defer func() {
		if err != nil {
			_ = s.Close()
		}
	}()
	s.spool, err = spool.Open(SpoolDir(opt.StateDir), spool.Options{
		SegmentBytes: opt.SegmentBytes, MaxBytes: opt.MaxSpoolBytes, Logger: s.log})
	if err != nil {
		return nil, err
	}
	if err := s.adoptLegacyLinkFile(ctx); err != nil {
		return nil, err
	}
	sinkCfg := sink.Config{Addr: opt.Target.Addr, Username: opt.Target.Username,
		Password: opt.Target.Password, TLS: opt.Target.TLS, CheckpointKey: opt.CheckpointKey, OnError: opt.OnTargetError, OnCrossSlot: opt.OnCrossSlot,
		DialTimeout: opt.Target.DialTimeout, IOTimeout: opt.Target.IOTimeout, Logger: s.log,
		OnSkipped: func(*sink.TargetError) {
			s.tracker.AddTargetErrors(1)
			s.tracker.AddRejectedSkipped(status.SkippedByOnTargetError, 1)
		}}
	if s.sentinels.target != nil {
		sinkCfg.Addr, sinkCfg.Resolve = opt.TargetName, s.resolveTarget
	}
	s.target, err = connectTarget(ctx, s.log, opt.TargetName, sinkCfg)
	if err != nil {
		return nil, fmt.Errorf("target %s: %w", opt.TargetName, err)
	}
	ctl := opt.Target
	ctl.PoolSize = 2
	s.targetCtl = server.NewClient(ctl)
	ctl = opt.Source
	ctl.PoolSize = 2
	s.sourceCtl = server.NewClient(ctl)
	if opt.SourceInfo != nil {
		s.sourceInfo = *opt.SourceInfo
		s.log.Info("source server", zap.Stringer("server", s.sourceInfo))
	} else if s.sourceInfo, err = server.Fetch(ctx, s.sourceCtl); err != nil {
		log := s.log.With(zap.Error(err))
		log.Warn("cannot tell the source's version from INFO: commands whose meaning differs between versions are replayed as sent")
		err = nil
	} else {
		s.log.Info("source server", zap.Stringer("server", s.sourceInfo))
	}
	if opt.CheckpointKey != "" {
		s.store = &targetStore{sink: s.target}
	} else {
		s.store = fileStore{checkpoint.NewFileStore(opt.StateDir)}
	}
	return s, nil
}

// Close releases the spool and the connections; it is safe on a Syncer
// that New gave up on half-way.
func (s *Syncer) Close() error {
	var errs []error
	if s.target != nil {
		errs = append(errs, s.target.Close())
	}
	if s.spool != nil {
		errs = append(errs, s.spool.Close())
	}
	for _, c := range []*redis.Client{s.targetCtl, s.sourceCtl} {
		if c != nil {
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}

// Tracker is the status of this sync.
func (s *Syncer) Tracker() *status.Tracker { return s.tracker }

// Run syncs until ctx ends (nil: a clean stop), until the target has caught
// up once the snapshot is applied with Once, or until an error that a retry
// cannot fix. Before its first write it refuses servers that must not be
// synced (prepare: a target that is the source, a replica, or a loop).
func (s *Syncer) Run(ctx context.Context) error {
	if err := s.prepare(ctx); err != nil {
		if stoppedWhilePreparing(ctx, err) {
			s.tracker.SetPhase(status.PhaseStopped)
			return nil
		}
		s.tracker.SetError(err)
		return err
	}
	defer s.recorder.Summary()
	defer s.sentinels.watch(ctx)()
	defer s.dropOfferedSnapshot()
	for {
		err := s.runOnce(ctx)
		if e, ok := asPingsPastFork(err); ok && ctx.Err() == nil {
			if err := s.cutPingsPastFork(ctx, e); err != nil {
				s.tracker.SetError(err)
				return err
			}
			continue
		}
		if ctx.Err() == nil && s.targetFailedOver(err) {
			if err := s.followTargetFailover(ctx, err); err != nil {
				s.tracker.SetPhase(status.PhaseStopped)
				return nil
			}
			continue
		}
		if (errors.Is(err, errRestartFullSync) || errors.Is(err, ErrResyncRequired)) && ctx.Err() == nil && s.opt.SharedTarget {
			// The target is shared: it is not emptied, only this sync's
			// part of it (TargetScope).
			if err := s.newSharedFullSync(ctx, err); err != nil {
				if ctx.Err() != nil {
					s.tracker.SetPhase(status.PhaseStopped)
					return nil
				}
				s.tracker.SetError(err)
				return err
			}
			continue
		}
		if errors.Is(err, errRestartFullSync) && ctx.Err() == nil {
			// The target holds only a part of a snapshot of ours (a first
			// sync, not merged): empty it and take the snapshot again.
			s.log.Warn("the snapshot download broke off while it was being applied: emptying the target and starting the full sync again", zap.Error(err))
			if err := s.resetAll(ctx); err != nil {
				return err
			}
			continue
		}
		if !errors.Is(err, ErrResyncRequired) {
			if err == nil || ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, errRestartFullSync)) {
				s.tracker.SetPhase(status.PhaseStopped)
				return nil
			}
			s.tracker.SetError(err)
			return err
		}
		if s.opt.OnFullResync != "flush" {
			return fmt.Errorf("%w; on-full-resync = %q: stopping. Set on-full-resync = \"flush\" to empty the target and sync afresh", err, s.opt.OnFullResync)
		}
		s.log.Warn("the source cannot continue the replication stream from the saved offset: emptying the target and starting a new full sync (on-full-resync = flush)", zap.Error(err))
		if err := s.resetAll(ctx); err != nil {
			return err
		}
	}
}

// runOnce runs the receiver and the applier until one of them ends.
func (s *Syncer) runOnce(ctx context.Context) error {
	p, err := s.plan(ctx)
	if err != nil {
		return err
	}
	parent := ctx
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// The snapshot to apply: a follower of one being downloaded (overlap),
	// or nil for the committed one in the spool.
	snapshotReady := make(chan *spool.SnapshotFollower, 1)
	if !p.fullSync {
		snapshotReady <- nil
	}

	var wg sync.WaitGroup
	var recvErr, applyErr error
	wg.Add(3)
	go func() {
		defer wg.Done()
		recvErr = s.receive(ctx, p, snapshotReady)
		if recvErr != nil {
			cancel(nil)
		}
	}()
	go func() {
		defer wg.Done()
		applyErr = s.apply(ctx, p, snapshotReady)
		cancel(nil) // the applier ends last: on error, on Once, or when ctx ends
	}()
	go func() {
		defer wg.Done()
		s.watchTargetMaster(ctx, cancel) // a sentinel-managed target only
	}()
	wg.Wait()
	if cause := context.Cause(ctx); parent.Err() == nil && errors.Is(cause, errTargetFailover) {
		return cause
	}
	if recvErr != nil && !errors.Is(recvErr, context.Canceled) {
		return recvErr
	}
	if applyErr != nil && !errors.Is(applyErr, context.Canceled) {
		return applyErr
	}
	return nil
}

// resetAll empties the target and forgets every offset: the next runOnce
// starts a full sync.
func (s *Syncer) resetAll(ctx context.Context) error {
	if err := s.flushTarget(ctx); err != nil {
		return fmt.Errorf("emptying the target before a new full sync: %w", err)
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
	return s.store.Reset(ctx)
}

// unholdable is what the snapshot replay and the stream translation do with
// data the target cannot hold.
func (s *Syncer) unholdable() transform.Unholdable {
	return transform.Unholdable{Policy: s.opt.Unholdable, Recorder: s.recorder}
}
