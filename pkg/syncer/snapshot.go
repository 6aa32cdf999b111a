package syncer

import (
	"bufio"
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/checkpoint"
	"github.com/redferry/redferry/pkg/spool"
	"github.com/redferry/redferry/pkg/status"
	"github.com/redferry/redferry/rdbparse"
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

	dec := rdbparse.NewDecoder(bufio.NewReaderSize(f, 1<<20), rdbparse.Options{Logger: a.log})
	rb := sink.NewRebuilder(s.target.Caps(), sink.RebuildOptions{DeleteFirst: deleteFirst})
	maxCmds, maxBytes := s.cfg.BatchCommands, s.cfg.BatchBytes
	var (
		skipping bool
		keyStart = from
		curDB    = 0
		keys     int64
	)
	err = dec.Decode(func(e *rdbparse.Event) error {
		switch e.Kind {
		case rdbparse.KindKey:
			if e.Offset < from {
				skipping = true
				return nil
			}
			skipping = false
			if a.batch.Len() >= maxCmds || a.batch.Size() >= maxBytes {
				st.SnapshotPos = e.Offset
				if err := a.commitSnapshotBatch(ctx, st, curDB, dec.Offset()); err != nil {
					return err
				}
			}
			keyStart, curDB = e.Offset, e.DB
		case rdbparse.KindKeyEnd:
			if skipping {
				skipping = false
				return nil
			}
			keys++
			s.tracker.AddKeys(1)
		case rdbparse.KindFunction:
			if e.Offset < from {
				return nil
			}
		}
		if skipping {
			return nil
		}
		if err := rb.Handle(e, a.batch); err != nil {
			return fmt.Errorf("snapshot byte %d: %w", e.Offset, err)
		}
		// A big key fills batches by itself: commit them mid-key.
		if e.Kind != rdbparse.KindKey && (a.batch.Len() >= 2*maxCmds || a.batch.Size() >= 2*maxBytes) {
			st.SnapshotPos = keyStart
			return a.commitSnapshotBatch(ctx, st, curDB, dec.Offset())
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("replaying the snapshot %s: %w", s.cfg.StateDir, err)
	}
	// The last batch moves the checkpoint to the stream.
	done := checkpoint.State{ReplID: info.ReplID, Offset: info.Offset, Phase: checkpoint.PhaseStreaming}
	if err := a.commitSnapshotBatch(ctx, done, curDB, info.Size); err != nil {
		return err
	}
	s.tracker.SetApplied(info.Offset)
	a.log.Info("snapshot applied", zap.Int64("keys", keys), zap.Duration("took", time.Since(start)))
	if err := s.spool.RemoveSnapshot(); err != nil {
		a.log.Warn("could not remove the applied snapshot from the spool", zap.Error(err))
	}
	return nil
}

func (a *applier) commitSnapshotBatch(ctx context.Context, st checkpoint.State, db int, pos int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := a.commit(ctx, st); err != nil {
		return err
	}
	a.batch.StartDB = db
	a.s.tracker.SetSnapshotApplied(pos)
	return nil
}
