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

// streamStart is where the replication stream continues after a snapshot:
// its offset and the db selected there.
type streamStart struct {
	offset int64
	db     int
}

// replaySpooledSnapshot rebuilds every key of the committed snapshot in the
// spool from the key at byte from on, and returns where the stream
// continues.
func (a *applier) replaySpooledSnapshot(ctx context.Context, from int64, deleteFirst bool) (streamStart, error) {
	s := a.s
	info, ok := s.spool.Snapshot()
	if !ok {
		return streamStart{}, errors.New("internal: the snapshot is not in the spool after the receiver committed it")
	}
	f, err := s.spool.OpenSnapshot()
	if err != nil {
		return streamStart{}, err
	}
	defer f.Close()
	a.log.Info("applying the snapshot", zap.Int64("bytes", info.Size), zap.Int64("from", from))
	snap := snapshotSource{r: f, replID: info.ReplID, offset: info.Offset, partial: func() bool { return false },
		rewind: func() error {
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return fmt.Errorf("reading the spooled snapshot again: %w", err)
			}
			return nil
		}}
	db, err := a.replaySnapshot(ctx, snap, from, deleteFirst)
	if err != nil {
		return streamStart{}, err
	}
	s.tracker.SetSnapshotApplied(info.Size)
	a.removeAppliedSnapshot()
	return streamStart{offset: info.Offset, db: db}, nil
}

// replayFollowedSnapshot applies a snapshot while it downloads. If the
// download breaks off, the target holds part of it: errRestartFullSync
// makes Run empty the target and take a new snapshot (a followed snapshot
// is only used when the target held nothing else).
func (a *applier) replayFollowedSnapshot(ctx context.Context, f *spool.SnapshotFollower) (streamStart, error) {
	a.log.Info("applying the snapshot while it downloads")
	snap := snapshotSource{r: f, replID: f.ReplID(), offset: f.Offset(), partial: func() bool { return !f.Complete() },
		rewind: func() error { f.Rewind(); return nil }}
	db, err := a.replaySnapshot(ctx, snap, 0, false)
	if err == nil {
		// The stream is spooled from the snapshot's commit on.
		err = f.Wait(ctx)
	}
	if errors.Is(err, spool.ErrSnapshotAborted) {
		return streamStart{}, fmt.Errorf("%w: %w", errRestartFullSync, err)
	}
	if err != nil {
		return streamStart{}, err
	}
	if info, ok := a.s.spool.Snapshot(); ok {
		a.s.tracker.SetSnapshotApplied(info.Size)
	}
	a.removeAppliedSnapshot()
	return streamStart{offset: f.Offset(), db: db}, nil
}

// snapshotSource is a snapshot to replay.
type snapshotSource struct {
	r       io.Reader
	replID  string
	offset  int64        // FULLRESYNC offset
	partial func() bool  // still downloading: a checkpoint now cannot be resumed from
	rewind  func() error // start r again at the snapshot's first byte
}

// replaySnapshot rebuilds every key of snap from the key at byte from on.
// Each batch's checkpoint names a key before which every key is applied
// (the first key the batch does not complete; with a window of batches in
// flight, the first of the oldest batch not yet confirmed), so a restart
// redoes the keys from there, each deleted first; the last one moves the
// checkpoint to the stream. It returns the db the stream starts in.
func (a *applier) replaySnapshot(ctx context.Context, snap snapshotSource, from int64, deleteFirst bool) (streamDB int, err error) {
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
			return 0, err
		}
	}
	start := time.Now()
	batchCommands, batchBytes := s.opt.Limits.Caps(s.opt.BatchCommands, s.opt.BatchBytes)
	win, err := a.openSnapshotWindow(ctx, from)
	if err != nil {
		return 0, err
	}
	for {
		flush := func(ctx context.Context, b *sink.Batch, resumeAt int64, db int) error {
			st.SnapshotPos = resumeAt
			st.Partial = snap.partial()
			showPhase()
			if win != nil {
				return win.send(ctx, b, st, resumeAt)
			}
			return a.commit(ctx, st)
		}
		progress := func(keys, pos int64) { s.tracker.SetKeysApplied(keys); s.tracker.SetSnapshotApplied(pos) }
		res, err := replay.Snapshot(ctx, bufio.NewReaderSize(snap.r, 1<<20), s.target.Server(), replay.SnapshotOptions{
			From: from, DeleteFirst: deleteFirst, BatchCommands: batchCommands, BatchBytes: batchBytes, Logger: a.log,
			Mode: s.opt.ReplayMode, Unholdable: s.unholdable(), ProbeRestore: s.target.ProbeRestore,
			Filter: s.opt.Filter, OnFiltered: s.tracker.AddFilteredKey,
		}, a.batch, flush, progress)
		if win != nil {
			// The window's batches land (or fail) before anything else is
			// sent, also on a stop; the last batch goes after them.
			err = windowOutcome(err, win.close(ctx))
			if err == nil {
				err = a.asyncErr()
			}
			if errors.Is(err, errWindowFailed) && ctx.Err() == nil {
				from, deleteFirst = win.lowWater(), true
				win = nil
				a.log.Warn("a batch of the snapshot window failed: redoing the keys from the last confirmed one, one batch at a time",
					zap.Int64("from", from), zap.Error(err))
				if err := snap.rewind(); err != nil {
					return 0, err
				}
				a.batch.Reset()
				continue
			}
		}
		if err != nil {
			if errors.Is(err, spool.ErrSnapshotAborted) {
				return 0, err
			}
			return 0, fmt.Errorf("replaying the snapshot in %s: %w", s.opt.StateDir, err)
		}
		done := checkpoint.State{ReplID: snap.replID, Offset: snap.offset, Phase: checkpoint.PhaseStreaming, DB: res.StreamDB}
		if err := a.commit(ctx, done); err != nil {
			return 0, err
		}
		if err := a.wait(ctx); err != nil {
			return 0, err
		}
		a.batch.StartDB = res.DB
		s.tracker.SetApplied(snap.offset)
		a.log.Info("snapshot applied", zap.Int64("keys", res.Keys), zap.Int("stream_db", res.StreamDB), zap.Duration("took", time.Since(start)))
		return res.StreamDB, nil
	}
}

// windowOutcome combines what ended a windowed replay (err) with what its
// window reported on closing (werr): a failed batch means going back to the
// low-water mark, unless another error ended the replay, which then counts;
// a connection that could not be fenced stops the sync.
func windowOutcome(err, werr error) error {
	switch {
	case werr == nil:
		return err
	case err == nil || errors.Is(err, errWindowFailed):
		return werr
	case errors.Is(werr, errWindowFailed):
		return err
	default:
		return errors.Join(err, werr)
	}
}

// removeAppliedSnapshot frees the spool's copy of a snapshot now applied.
func (a *applier) removeAppliedSnapshot() {
	if err := a.s.spool.RemoveSnapshot(); err != nil {
		a.log.Warn("could not remove the applied snapshot from the spool", zap.Error(err))
	}
}
