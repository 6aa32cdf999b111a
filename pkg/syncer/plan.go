package syncer

import (
	"context"
	"fmt"

	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/checkpoint"
	"github.com/redferry/redferry/pkg/spool"
)

// plan is where a run starts, and what must be done before it.
type plan struct {
	replID      string // the replid to PSYNC with; "" asks for a full sync
	fullSync    bool   // no usable position: take a new snapshot
	overlap     bool   // apply the new snapshot while it downloads (the target holds nothing else)
	snapshot    bool   // the applier replays the spooled snapshot...
	snapshotPos int64  // ...from this key on
	streamFrom  int64  // the applier replays the stream from this offset
	db          int    // the db selected at streamFrom

	// Before the run:
	flushTarget   bool  // empty the target (first sync with flush-target)
	clearSpool    bool  // forget the spooled snapshot and the stream's replid (first sync)
	resetStreamAt int64 // >= 0: the spool does not cover the checkpoint; restart its stream here
	repairTailAt  int64 // >= 0: cut a torn command off the spooled stream, parsing from here
}

// planInputs is everything the start-up decision depends on.
type planInputs struct {
	checkpoint     checkpoint.State
	haveCheckpoint bool
	// The spool: its snapshot, its stream's extent and replid.
	snapshot     spool.SnapshotInfo
	haveSnapshot bool
	hasStream    bool
	spoolStart   int64
	spoolEnd     int64
	streamReplID string
	// targetKeys counts the target's keys (read only without a checkpoint).
	targetKeys  int64
	flushTarget bool
	merge       bool
	// For messages.
	stateDir, target string
}

// decide is the start-up decision: a pure function of what the checkpoint,
// the spool and the target say, so every case is tested by a table.
func decide(in planInputs) (plan, error) {
	if !in.haveCheckpoint {
		return decideFirstSync(in)
	}
	st := in.checkpoint
	replID := st.ReplID
	if in.streamReplID != "" {
		replID = in.streamReplID // the stream may have moved on to a new replid (failover) after the checkpoint
	}
	if st.Phase == checkpoint.PhaseSnapshotReplay {
		same := in.haveSnapshot && in.snapshot.ReplID == st.ReplID && in.snapshot.Offset == st.Offset
		switch {
		case !same && st.Partial:
			return plan{}, fmt.Errorf("%w: it was being applied while it downloaded, and redferry stopped before it was whole", errRestartFullSync)
		case !same:
			return plan{}, fmt.Errorf("%w: the snapshot being applied (replid %s, offset %d) is no longer in the spool %s",
				ErrResyncRequired, st.ReplID, st.Offset, in.stateDir)
		case in.spoolStart != st.Offset:
			return plan{}, fmt.Errorf("%w: the spooled stream starts at %d, not at the snapshot's offset %d",
				ErrResyncRequired, in.spoolStart, st.Offset)
		}
		return plan{replID: replID, snapshot: true, snapshotPos: st.SnapshotPos, streamFrom: st.Offset,
			resetStreamAt: -1, repairTailAt: st.Offset}, nil
	}
	p := plan{replID: replID, streamFrom: st.Offset, db: st.DB, resetStreamAt: -1, repairTailAt: st.Offset}
	if !in.hasStream || st.Offset < in.spoolStart || st.Offset > in.spoolEnd {
		// The spool does not hold the bytes after the checkpoint: ask the
		// source for them, under the checkpoint's own replid.
		p.replID, p.resetStreamAt, p.repairTailAt = st.ReplID, st.Offset, -1
	}
	return p, nil
}

// decideFirstSync: no checkpoint, so a full sync into a target that must be
// empty, emptied, or merged into.
func decideFirstSync(in planInputs) (plan, error) {
	p := plan{fullSync: true, snapshot: true, overlap: !in.merge, clearSpool: true, resetStreamAt: -1, repairTailAt: -1}
	switch {
	case in.targetKeys > 0 && in.flushTarget:
		p.flushTarget = true
	case in.targetKeys > 0 && !in.merge:
		return plan{}, fmt.Errorf("the target %s holds %d keys and no redferry checkpoint for this source: "+
			"give --flush-target to empty it first, or --merge to keep its keys (same-named keys are replaced)", in.target, in.targetKeys)
	}
	return p, nil
}

// plan reads the checkpoint, the spool and the target, decides where to
// start, and does what the decision needs before the run.
func (s *Syncer) plan(ctx context.Context) (plan, error) {
	in, err := s.planInputs(ctx)
	if err != nil {
		return plan{}, err
	}
	if in.haveCheckpoint {
		if in.checkpoint, err = s.afterRollback(ctx, in.checkpoint); err != nil {
			return plan{}, err
		}
	}
	// A record of rejected commands a stop left in the state dir goes to
	// the checkpoint first (rejected_pending.go).
	if in.checkpoint, err = s.finishPendingRejection(ctx, in.checkpoint, in.haveCheckpoint); err != nil {
		return plan{}, err
	}
	if in.haveCheckpoint {
		// Before anything is written or cut: a rejected command recorded
		// with the checkpoint stops here until the operator answers.
		if in.checkpoint, err = s.resolveRejected(ctx, in.checkpoint); err != nil {
			return plan{}, err
		}
		st := in.checkpoint
		s.log.Info("resuming from the checkpoint", zap.String("replid", st.ReplID), zap.Int64("offset", st.Offset),
			zap.String("phase", st.Phase), zap.Int64("snapshot_pos", st.SnapshotPos))
	}
	p, err := decide(in)
	if err != nil {
		return plan{}, err
	}
	if p.flushTarget {
		s.log.Warn("emptying the target before the first sync (flush-target)", zap.Int64("keys", in.targetKeys))
		if err := s.flushTarget(ctx); err != nil {
			return plan{}, err
		}
	}
	if p.fullSync {
		// Marks read without a checkpoint to resume from (a first batch that
		// never got its Done) speak of another snapshot: with merge they
		// would skip keys of the new one (sink/forget.go).
		s.target.ForgetCheckpoint()
	}
	if p.clearSpool {
		if err := s.spool.RemoveSnapshot(); err != nil {
			return plan{}, err
		}
		if err := s.spool.SetStreamReplID(""); err != nil {
			return plan{}, err
		}
	}
	if p.resetStreamAt >= 0 {
		s.log.Info("the spool does not cover the checkpoint: continuing from the source's backlog",
			zap.Int64("spool_start", in.spoolStart), zap.Int64("spool_end", in.spoolEnd))
		if err := s.spool.ResetStream(p.resetStreamAt); err != nil {
			return plan{}, err
		}
		// The stream starts anew under the checkpoint's replid: batches
		// record it, and a CONTINUE does not name it again.
		if s.spool.StreamReplID() != p.replID {
			if err := s.spool.SetStreamReplID(p.replID); err != nil {
				return plan{}, err
			}
		}
	}
	if p.repairTailAt >= 0 {
		if err := s.repairStreamTail(ctx, p.repairTailAt); err != nil {
			return plan{}, err
		}
	}
	if p.snapshot && !p.fullSync {
		s.tracker.SetSnapshotSize(in.snapshot.Size)
		s.tracker.SetSnapshotReceived(in.snapshot.Size)
	}
	s.tracker.SetReplID(p.replID)
	return p, nil
}

func (s *Syncer) planInputs(ctx context.Context) (planInputs, error) {
	st, ok, err := s.store.Load(ctx)
	if err != nil {
		return planInputs{}, err
	}
	snap, haveSnap := s.spool.Snapshot()
	in := planInputs{checkpoint: st, haveCheckpoint: ok, snapshot: snap, haveSnapshot: haveSnap,
		hasStream: s.spool.HasStream(), spoolStart: s.spool.Start(), spoolEnd: s.spool.End(),
		streamReplID: s.spool.StreamReplID(), flushTarget: s.opt.FlushTarget, merge: s.opt.Merge && !s.scopeCleared,
		stateDir: s.opt.StateDir, target: s.opt.Target.Addr}
	if in.target == "" { // a sentinel-managed target
		in.target = s.opt.TargetName
	}
	if !ok && s.opt.StartAt != nil {
		s.log.Info("no checkpoint in the target yet: starting at the given position, without a full sync",
			zap.String("replid", s.opt.StartAt.ReplID), zap.Int64("offset", s.opt.StartAt.Offset))
		in.checkpoint, in.haveCheckpoint, ok = *s.opt.StartAt, true, true
	}
	if !ok && !s.opt.SharedTarget { // a shared target's keys are the other syncs' too
		if in.targetKeys, err = s.targetKeyCount(ctx); err != nil {
			return planInputs{}, err
		}
	}
	return in, nil
}
