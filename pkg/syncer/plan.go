package syncer

import (
	"context"
	"fmt"

	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/checkpoint"
)

// plan is where a run starts.
type plan struct {
	replID      string // the replid to PSYNC with; "" asks for a full sync
	fullSync    bool   // no usable position: take a new snapshot
	overlap     bool   // apply the new snapshot while it downloads (the target holds nothing else)
	snapshot    bool   // the applier replays the spooled snapshot...
	snapshotPos int64  // ...from this key on
	streamFrom  int64  // the applier replays the stream from this offset
	db          int    // the db selected at streamFrom
}

// plan reads the checkpoint and the spool and decides where to start.
func (s *Syncer) plan(ctx context.Context) (plan, error) {
	st, ok, err := s.store.Load(ctx)
	if err != nil {
		return plan{}, err
	}
	if !ok {
		return s.planFirstSync(ctx)
	}
	s.log.Info("resuming from the checkpoint", zap.String("replid", st.ReplID), zap.Int64("offset", st.Offset),
		zap.String("phase", st.Phase), zap.Int64("snapshot_pos", st.SnapshotPos))
	replID := st.ReplID
	if link, ok, err := s.linkInfo.Load(ctx); err == nil && ok {
		replID = link.ReplID // the stream may have moved on to a new replid (failover) after the checkpoint
	}
	s.tracker.SetReplID(replID)
	switch st.Phase {
	case checkpoint.PhaseSnapshotReplay:
		info, has := s.spool.Snapshot()
		if (!has || info.ReplID != st.ReplID || info.Offset != st.Offset) && st.Partial {
			return plan{}, fmt.Errorf("%w: it was being applied while it downloaded, and redferry stopped before it was whole", errRestartFullSync)
		}
		if !has || info.ReplID != st.ReplID || info.Offset != st.Offset {
			return plan{}, fmt.Errorf("%w: the snapshot being applied (replid %s, offset %d) is no longer in the spool %s",
				ErrResyncRequired, st.ReplID, st.Offset, s.cfg.StateDir)
		}
		if s.spool.Start() != st.Offset {
			return plan{}, fmt.Errorf("%w: the spooled stream starts at %d, not at the snapshot's offset %d",
				ErrResyncRequired, s.spool.Start(), st.Offset)
		}
		if err := s.repairStreamTail(ctx, st.Offset); err != nil {
			return plan{}, err
		}
		s.tracker.SetSnapshotSize(info.Size)
		s.tracker.SetSnapshotReceived(info.Size)
		return plan{replID: replID, snapshot: true, snapshotPos: st.SnapshotPos, streamFrom: st.Offset, db: 0}, nil
	default: // streaming
		if !s.spool.HasStream() || st.Offset < s.spool.Start() || st.Offset > s.spool.End() {
			// The spool does not hold the bytes after the checkpoint: ask the source for them.
			s.log.Info("the spool does not cover the checkpoint: continuing from the source's backlog",
				zap.Int64("spool_start", s.spool.Start()), zap.Int64("spool_end", s.spool.End()))
			if err := s.spool.ResetStream(st.Offset); err != nil {
				return plan{}, err
			}
			replID = st.ReplID
		} else if err := s.repairStreamTail(ctx, st.Offset); err != nil {
			return plan{}, err
		}
		return plan{replID: replID, streamFrom: st.Offset, db: st.DB}, nil
	}
}

// planFirstSync checks that the target may be written and clears the spool.
func (s *Syncer) planFirstSync(ctx context.Context) (plan, error) {
	n, err := s.targetKeyCount(ctx)
	if err != nil {
		return plan{}, err
	}
	switch {
	case n > 0 && s.cfg.FlushTarget:
		s.log.Warn("emptying the target before the first sync (flush-target)", zap.Int64("keys", n))
		if err := s.flushTarget(ctx); err != nil {
			return plan{}, err
		}
	case n > 0 && !s.cfg.Merge:
		return plan{}, fmt.Errorf("the target %s holds %d keys and no redferry checkpoint for this source: "+
			"give --flush-target to empty it first, or --merge to keep its keys (same-named keys are replaced)", s.dst, n)
	}
	if err := s.spool.RemoveSnapshot(); err != nil {
		return plan{}, err
	}
	if err := removeFile(s.linkInfo.Path()); err != nil {
		return plan{}, err
	}
	return plan{fullSync: true, snapshot: true, overlap: !s.cfg.Merge}, nil
}
