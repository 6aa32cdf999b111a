package syncer

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/checkpoint"
	"github.com/redferry/redferry/pkg/replay"
	"github.com/redferry/redferry/pkg/spool"
	"github.com/redferry/redferry/pkg/status"
	"github.com/redferry/redferry/sink"
)

// replaySpooledSnapshot rebuilds every key of the committed snapshot in the
// spool from the key at byte from on, and returns the offset the stream
// continues from.
func (a *applier) replaySpooledSnapshot(ctx context.Context, from int64, deleteFirst bool) (int64, error) {
	s := a.s
	info, ok := s.spool.Snapshot()
	if !ok {
		return 0, errors.New("internal: the snapshot is not in the spool after the receiver committed it")
	}
	f, err := s.spool.OpenSnapshot()
	if err != nil {
		return 0, err
	}
	defer f.Close()
	a.log.Info("applying the snapshot", zap.Int64("bytes", info.Size), zap.Int64("from", from))
	snap := snapshotSource{r: f, replID: info.ReplID, offset: info.Offset, partial: func() bool { return false }}
	if err := a.replaySnapshot(ctx, snap, from, deleteFirst); err != nil {
		return 0, err
	}
	s.tracker.SetSnapshotApplied(info.Size)
	a.removeAppliedSnapshot()
	return info.Offset, nil
}

// replayFollowedSnapshot applies a snapshot while it downloads. If the
// download breaks off, the target holds part of it: errRestartFullSync
// makes Run empty the target and take a new snapshot (a followed snapshot
// is only used when the target held nothing else).
func (a *applier) replayFollowedSnapshot(ctx context.Context, f *spool.SnapshotFollower) (int64, error) {
	a.log.Info("applying the snapshot while it downloads")
	snap := snapshotSource{r: f, replID: f.ReplID(), offset: f.Offset(), partial: func() bool { return !f.Complete() }}
	err := a.replaySnapshot(ctx, snap, 0, false)
	if err == nil {
		// The stream is spooled from the snapshot's commit on.
		err = f.Wait(ctx)
	}
	if errors.Is(err, spool.ErrSnapshotAborted) {
		return 0, fmt.Errorf("%w: %w", errRestartFullSync, err)
	}
	if err != nil {
		return 0, err
	}
	if info, ok := a.s.spool.Snapshot(); ok {
		a.s.tracker.SetSnapshotApplied(info.Size)
	}
	a.removeAppliedSnapshot()
	return f.Offset(), nil
}

// snapshotSource is a snapshot to replay.
type snapshotSource struct {
	r       io.Reader
	replID  string
	offset  int64       // FULLRESYNC offset
	partial func() bool // still downloading: a checkpoint now cannot be resumed from
}

// replaySnapshot rebuilds every key of snap from the key at byte from on.
// Each batch's checkpoint names the first key it does not complete, so a
// restart redoes at most that key (deleted first); the last one moves the
// checkpoint to the stream.
func (a *applier) replaySnapshot(ctx context.Context, snap snapshotSource, from int64, deleteFirst bool) error {
	s := a.s
	// While the snapshot still downloads the phase stays snapshot-download
	// (a stop then means a new full sync); replay shows once it is whole.
	showPhase := func() {
		if !snap.partial() {
			s.tracker.SetPhase(status.PhaseSnapshotReplay)
		}
	}
	showPhase()
	st := checkpoint.State{ReplID: snap.replID, Offset: snap.offset, Phase: checkpoint.PhaseSnapshotReplay, SnapshotPos: from}
	a.span = batchSpan{snapshot: true}
	if from == 0 {
		// Record that the replay began before any key lands, so that a crash
		// from here on resumes instead of finding a non-empty target.
		st.Partial = snap.partial()
		if err := a.commit(ctx, st); err != nil {
			return err
		}
	}
	start := time.Now()
	flush := func(ctx context.Context, b *sink.Batch, resumeAt int64, db int) error {
		st.SnapshotPos = resumeAt
		st.Partial = snap.partial()
		showPhase()
		return a.commit(ctx, st)
	}
	progress := func(keys, pos int64) { s.tracker.SetKeysApplied(keys); s.tracker.SetSnapshotApplied(pos) }
	batchCommands, batchBytes := s.opt.Limits.Caps(s.opt.BatchCommands, s.opt.BatchBytes)
	curDB, keys, err := replay.Snapshot(ctx, bufio.NewReaderSize(snap.r, 1<<20), s.target.Server(), replay.SnapshotOptions{
		From: from, DeleteFirst: deleteFirst, BatchCommands: batchCommands, BatchBytes: batchBytes, Logger: a.log,
		Mode: s.opt.ReplayMode, Unholdable: s.unholdable(), ProbeRestore: s.target.ProbeRestore,
		Filter: s.opt.Filter, OnFiltered: s.tracker.AddFilteredKey,
	}, a.batch, flush, progress)
	if err != nil {
		if errors.Is(err, spool.ErrSnapshotAborted) {
			return err
		}
		return fmt.Errorf("replaying the snapshot in %s: %w", s.opt.StateDir, err)
	}
	done := checkpoint.State{ReplID: snap.replID, Offset: snap.offset, Phase: checkpoint.PhaseStreaming}
	if err := a.commit(ctx, done); err != nil {
		return err
	}
	if err := a.wait(ctx); err != nil {
		return err
	}
	a.batch.StartDB = curDB
	s.tracker.SetApplied(snap.offset)
	a.log.Info("snapshot applied", zap.Int64("keys", keys), zap.Duration("took", time.Since(start)))
	return nil
}

// removeAppliedSnapshot frees the spool's copy of a snapshot now applied.
func (a *applier) removeAppliedSnapshot() {
	if err := a.s.spool.RemoveSnapshot(); err != nil {
		a.log.Warn("could not remove the applied snapshot from the spool", zap.Error(err))
	}
}
