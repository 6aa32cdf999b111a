package syncer

import (
	"bufio"
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/checkpoint"
	"github.com/redferry/redferry/pkg/replay"
	"github.com/redferry/redferry/pkg/spool"
	"github.com/redferry/redferry/pkg/status"
	"github.com/redferry/redferry/sink"
)

// replaySnapshot rebuilds every key of the spooled snapshot from the key at
// byte from on. Each batch's checkpoint names the first key it does not
// complete, so a restart redoes at most that key (deleted first).
func (a *applier) replaySnapshot(ctx context.Context, info spool.SnapshotInfo, from int64, deleteFirst bool) error {
	s := a.s
	s.tracker.SetPhase(status.PhaseSnapshotReplay)
	st := checkpoint.State{ReplID: info.ReplID, Offset: info.Offset, Phase: checkpoint.PhaseSnapshotReplay, SnapshotPos: from}
	if from == 0 {
		// Record that the replay began before any key lands, so that a crash
		// from here on resumes instead of finding a non-empty target.
		if err := a.commit(ctx, st); err != nil {
			return err
		}
	}
	f, err := s.spool.OpenSnapshot()
	if err != nil {
		return err
	}
	defer f.Close()
	a.log.Info("applying the snapshot", zap.Int64("bytes", info.Size), zap.Int64("from", from))
	start := time.Now()

	flush := func(ctx context.Context, b *sink.Batch, resumeAt int64, db int) error {
		st.SnapshotPos = resumeAt
		return a.commit(ctx, st)
	}
	progress := func(keys, pos int64) { s.tracker.SetKeysApplied(keys); s.tracker.SetSnapshotApplied(pos) }
	curDB, keys, err := replay.Snapshot(ctx, bufio.NewReaderSize(f, 1<<20), s.target.Caps(), replay.SnapshotOptions{
		From: from, DeleteFirst: deleteFirst, BatchCommands: s.cfg.BatchCommands, BatchBytes: s.cfg.BatchBytes, Logger: a.log,
		Mode: s.cfg.ReplayMode, OnUnknownModule: s.cfg.OnUnknownModule, ProbeRestore: s.target.ProbeRestore,
	}, a.batch, flush, progress)
	if err != nil {
		return fmt.Errorf("replaying the snapshot in %s: %w", s.cfg.StateDir, err)
	}
	// The last batch moves the checkpoint to the stream.
	done := checkpoint.State{ReplID: info.ReplID, Offset: info.Offset, Phase: checkpoint.PhaseStreaming}
	if err := a.commit(ctx, done); err != nil {
		return err
	}
	if err := a.wait(ctx); err != nil {
		return err
	}
	a.batch.StartDB = curDB
	s.tracker.SetSnapshotApplied(info.Size)
	s.tracker.SetApplied(info.Offset)
	a.log.Info("snapshot applied", zap.Int64("keys", keys), zap.Duration("took", time.Since(start)))
	if err := s.spool.RemoveSnapshot(); err != nil {
		a.log.Warn("could not remove the applied snapshot from the spool", zap.Error(err))
	}
	return nil
}
