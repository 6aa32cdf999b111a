package rollback

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"

	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/checkpoint"
	"github.com/redferry/redferry/pkg/status"
	"github.com/redferry/redferry/pkg/syncer"
)

// Controller runs the link of the migration's phase: the forward sync, or
// after a rollback-ready cutover the reverse link, and hands over from one to
// the other (cutover.Keeper, Rollback). A restart continues the phase the
// state file names.
type Controller struct {
	fwd *syncer.Syncer
	opt syncer.Options // the forward sync's
	log *zap.Logger

	// startPhase is the phase this run started in.
	startPhase string

	mu      sync.Mutex
	st      State
	cutting bool   // a rollback-ready cutover is under way
	pending State  // what Prepare found, for Keep
	lastErr string // of the last hand-over that failed
	cur     *linkRun
	revTr   *status.Tracker // the reverse link's, once it ran
	// next wakes Run after a hand-over, once the next phase is decided.
	next chan struct{}

	busy sync.Mutex // one hand-over (cutover or rollback) at a time
}

// linkRun is one link being run by Run.
type linkRun struct {
	cancel   context.CancelFunc
	done     chan struct{}
	err      error
	handover bool // stopped by a hand-over, not by Run's context
}

// New reads the state dir's rollback state and shows it in the forward
// sync's tracker (/status, /metrics). opt are the forward sync's options.
func New(fwd *syncer.Syncer, opt syncer.Options) (*Controller, error) {
	st, err := loadState(opt.StateDir)
	if err != nil {
		return nil, err
	}
	log := opt.Logger
	if log == nil {
		log = zap.NewNop()
	}
	c := &Controller{fwd: fwd, opt: opt, log: log.With(zap.String("stage", "rollback")), st: st, startPhase: st.Phase, next: make(chan struct{}, 1)}
	fwd.Tracker().SetRollback(c.Report)
	return c, nil
}

// Run runs the link of the current phase until ctx ends or a link fails:
// the forward sync, the reverse link, or nothing once rolled back (the
// forward sync starts again with the next start of redferry, once clients
// are back on the old source).
func (c *Controller) Run(ctx context.Context) error {
	c.mu.Lock()
	if c.st.Phase == status.RollbackRolledBack {
		// A restart after a rollback: the operator starts the forward sync
		// again. It resumes past the reverse link's writes (see
		// syncer.afterRollback).
		c.log.Info("the forward sync starts again after a rollback", zap.Int64("resume_offset", c.st.ResumeOffset))
		c.st.Phase = status.RollbackForward
		if err := saveState(c.opt.StateDir, c.st); err != nil {
			c.mu.Unlock()
			return err
		}
	}
	c.mu.Unlock()
	for {
		c.mu.Lock()
		phase := c.st.Phase
		c.mu.Unlock()
		var err error
		var handedOver bool
		switch phase {
		case status.RollbackReverse:
			c.fwd.Tracker().SetPhase(status.PhaseStopped) // the forward sync stopped at the cutover
			handedOver, err = c.runReverse(ctx)
		case status.RollbackRolledBack:
			c.log.Info("rolled back: the old source is current and the reverse link stopped; restart redferry sync to sync forward again once clients are back on the old source")
			<-ctx.Done()
			return nil
		default:
			handedOver, err = c.runLink(ctx, c.fwd)
		}
		if !handedOver {
			return err
		}
		select {
		case <-c.next:
		case <-ctx.Done():
			return nil
		}
	}
}

// runLink runs s until ctx ends, it fails, or a hand-over stops it.
func (c *Controller) runLink(ctx context.Context, s *syncer.Syncer) (handedOver bool, err error) {
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	select {
	case <-c.next: // a wake no one waited for
	default:
	}
	r := &linkRun{cancel: cancel, done: make(chan struct{})}
	c.mu.Lock()
	c.cur = r
	c.mu.Unlock()
	r.err = s.Run(rctx)
	c.mu.Lock()
	c.cur = nil
	handedOver = r.handover && ctx.Err() == nil
	c.mu.Unlock()
	close(r.done)
	return handedOver, r.err
}

// stopLink stops the running link for a hand-over and waits until its last
// batch has landed; it returns the link's error, if it had failed. ok is
// false when no link ran (nothing was stopped: Run needs no wake).
func (c *Controller) stopLink() (ok bool, err error) {
	c.mu.Lock()
	r := c.cur
	if r == nil {
		c.mu.Unlock()
		return false, nil
	}
	r.handover = true
	c.mu.Unlock()
	r.cancel()
	<-r.done
	return true, r.err
}

// wake lets Run go on with the phase now in c.st.
func (c *Controller) wake() {
	select {
	case c.next <- struct{}{}:
	default:
	}
}

// reverseOptions are the reverse link's: the forward sync's servers swapped,
// its own state dir and checkpoint key (in the old source), no full sync,
// and the start at the target's offset at the cutover.
func (c *Controller) reverseOptions(st State, tr *status.Tracker) syncer.Options {
	f := c.opt
	r := f
	r.Source, r.Target = f.Target, f.Source
	r.SourceName, r.TargetName = f.TargetName, f.SourceName
	r.SourcePSyncCommand = ""
	r.ListeningPort = 0
	r.StateDir = reverseDir(f.StateDir)
	r.CheckpointKey = checkpoint.ReverseKey(f.CheckpointKey)
	r.LegacyCheckpointKey = ""
	// The old source holds the target's data up to the cutover: a full sync
	// would be wrong as well as long.
	r.OnFullResync = "stop"
	r.FlushTarget, r.Merge, r.Once = false, false, false
	if c.startPhase != status.RollbackReverse {
		// --retry-rejected and --skip-rejected answer the sync this run
		// started with: the reverse link's only when it started with it.
		r.RetryRejected, r.SkipRejected = false, nil
	}
	r.Filter, r.Limits = nil, nil
	r.StartAt = &checkpoint.State{ReplID: st.TargetReplID, Offset: st.TargetOffset, Phase: checkpoint.PhaseStreaming}
	if f.Logger != nil {
		r.Logger = f.Logger.With(zap.String("link", "reverse"))
	}
	r.Tracker = tr
	return r
}

// reverseDir is the reverse link's state dir (its spool).
func reverseDir(stateDir string) string { return filepath.Join(stateDir, "reverse") }

// runReverse runs the reverse link until ctx ends, it fails, or a rollback
// stops it.
func (c *Controller) runReverse(ctx context.Context) (bool, error) {
	c.mu.Lock()
	st := c.st
	tr := status.NewTracker(c.opt.TargetName, c.opt.SourceName)
	c.revTr = tr
	c.mu.Unlock()
	c.log.Info("running the reverse link: the target's writes go to the old source",
		zap.String("target_replid", st.TargetReplID), zap.Int64("target_offset_at_cutover", st.TargetOffset),
		zap.Int64("source_offset_at_cutover", st.SourceOffset), zap.String("path", st.Path))
	s, err := syncer.New(ctx, c.reverseOptions(st, tr))
	if err != nil {
		if ctx.Err() != nil {
			return false, nil
		}
		err = fmt.Errorf("reverse link: %w", err)
		tr.SetError(err)
		return false, err
	}
	defer s.Close()
	handedOver, err := c.runLink(ctx, s)
	switch {
	case errors.Is(err, syncer.ErrResyncRequired):
		err = fmt.Errorf("reverse link (target → old source): the target's replication backlog no longer holds the reverse link's position "+
			"(applied up to the target's offset %d; it was down or behind for longer than repl-backlog-size covers, or the target restarted): "+
			"the old source lacks the target's writes since, and only a full sync target → old source can make it current again "+
			"(redferry sync with the target as source and the old source as target, --flush-target, another state dir and name): %w",
			tr.Applied(), err)
	case err != nil:
		err = fmt.Errorf("reverse link (target → old source): %w", err)
	}
	if err != nil {
		tr.SetError(err)
	}
	return handedOver, err
}

// Report is the rollback part of /status.
func (c *Controller) Report() *status.RollbackReport {
	c.mu.Lock()
	st, cutting, revTr, lastErr := c.st, c.cutting, c.revTr, c.lastErr
	c.mu.Unlock()
	r := &status.RollbackReport{Phase: st.Phase, Path: st.Path, Cost: st.Cost, SourceReplID: st.SourceReplID,
		SourceOffset: st.SourceOffset, TargetReplID: st.TargetReplID, TargetOffset: st.TargetOffset,
		RolledBackAt: st.RolledBackAt, ResumeOffset: st.ResumeOffset, LastError: lastErr}
	if cutting {
		r.Phase = status.RollbackCutover
	}
	if revTr != nil {
		r.Reverse = status.ReverseOf(revTr)
	}
	return r
}
