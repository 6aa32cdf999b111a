package syncer

// The record of a rejected command outlives a kill between EXEC's reply and
// the record (rejected.go, step 1).
//
// The rejection shows only in EXEC's reply, and by then the checkpoint past
// the rejected command is in the target: the batch's own (a standalone
// target), or the mark of the command's slot (a cluster target, whose
// other slots and Done follow). The record went to the target in one more
// round trip after the batch: a kill -9, a crash or a broken link before it
// left a checkpoint like any other, and a restart went on past the command
// without a word (in a cluster, its slot's mark covers it). Writing the
// record in the target earlier is impossible (nothing says before EXEC
// which command will be rejected), and holding the checkpoint back would
// apply the batch twice on a restart.
//
// So the applier writes the record to the state dir first
// (rejected-pending.json, fsynced; nothing but this local write stands
// between reading the reply and the record being durable), then to the
// target, then removes the file. A cluster target calls back as soon as a
// slot's EXEC reply shows a rejection (sink.Batch.OnExecRejected), and the
// record is written then as "partial": the batch may not be wholly applied.
// A start reads the file before it looks at the checkpoint's rejections
// (plan → finishPendingRejection) and does what the stopped process did
// not:
//
//   - the target's checkpoint lacks the rejections and is of the same
//     replication id: a whole record (the batch applied), or a partial one
//     whose batch's checkpoint landed, is written as recordRejected would
//     have written it; a partial one whose batch's checkpoint did not land
//     is added to the checkpoint the target holds, from which the batch
//     is applied again after the operator's answer (the marks skip what
//     was applied, the rejected command with it). Such a command cannot be
//     retried: the retry's checkpoint, before the batch, would lower its
//     slot's mark (notRetryable). Either way the start stops there as after
//     any rejection;
//   - the target holds a record already (it landed; the file's removal was
//     lost): the file goes;
//   - the target holds no checkpoint of that stream any more (emptied for a
//     new full sync, the key deleted by hand), or one past the batch
//     (something else went on): the file goes, its commands logged as an
//     error, since they may be missing from the target.
//
// A kill while a batch is in flight, before its reply is read, still leaves
// nothing to learn the outcome from (rejected.go, "What this cannot see").

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/checkpoint"
	"github.com/redferry/redferry/pkg/fsutil"
	"github.com/redferry/redferry/sink"
)

// pendingRejectionFile is the record of a rejected command not yet known to
// be in the checkpoint, in the state dir.
const pendingRejectionFile = "rejected-pending.json"

func (s *Syncer) pendingRejectionPath() string {
	return filepath.Join(s.opt.StateDir, pendingRejectionFile)
}

// pendingRejection is the state dir's record.
type pendingRejection struct {
	// State: the batch's checkpoint with the rejected commands.
	State json.RawMessage `json:"state"`
	// Partial: written before the batch was wholly applied (a cluster
	// target, sink.Batch.OnExecRejected).
	Partial bool `json:"partial,omitempty"`
}

// savePendingRejection makes st (the batch's checkpoint with its rejections)
// durable in the state dir; partial: the batch may not be wholly applied.
func (s *Syncer) savePendingRejection(st checkpoint.State, partial bool) error {
	b, err := json.Marshal(pendingRejection{State: st.Marshal(), Partial: partial})
	if err == nil {
		err = fsutil.WriteAtomic(s.opt.StateDir, pendingRejectionFile, b)
	}
	if err != nil {
		return fmt.Errorf("writing the record of the rejected command to %s: %w", s.pendingRejectionPath(), err)
	}
	if s.afterPendingRejection != nil {
		s.afterPendingRejection()
	}
	return nil
}

// onExecRejected is sink.Batch.OnExecRejected for the batch whose
// checkpoint is st: the record, partial, in the state dir at once.
func (a *applier) onExecRejected(st checkpoint.State, span batchSpan) func([]sink.RejectedCommand) {
	return func(rc []sink.RejectedCommand) {
		st.UpdatedAt = time.Now()
		st.Rejected, st.RejectedOmitted = rejections(rc, span, st.UpdatedAt)
		if err := a.s.savePendingRejection(st, true); err != nil {
			a.log.Error("could not keep the record of a rejected command in the state dir: it is written to the target "+
				"once the batch is applied", zap.Error(err))
		}
	}
}

// dropPendingRejection removes the state dir's record once the checkpoint
// holds it (or no longer can).
func (s *Syncer) dropPendingRejection() {
	if err := removeFile(s.pendingRejectionPath()); err != nil {
		// A start finds the record in the checkpoint and removes the file then.
		s.log.Warn("could not remove the record of a rejected command from the state dir", zap.Error(err))
	}
}

// loadPendingRejection reads the state dir's record; ok false when none.
func (s *Syncer) loadPendingRejection() (p pendingRejection, st checkpoint.State, ok bool, err error) {
	b, err := os.ReadFile(s.pendingRejectionPath())
	switch {
	case errors.Is(err, os.ErrNotExist):
		return p, st, false, nil
	case err != nil:
		return p, st, false, fmt.Errorf("reading the record of a rejected command: %w", err)
	}
	if err = json.Unmarshal(b, &p); err == nil {
		st, err = checkpoint.Unmarshal(p.State)
	}
	if err != nil {
		return p, st, false, fmt.Errorf("the record of a rejected command %s: %w (it holds the command the target "+
			"rejected before redferry stopped: read it, check that key on the target, then delete the file)", s.pendingRejectionPath(), err)
	}
	return p, st, true, nil
}

// finishPendingRejection writes a record of rejected commands left in the
// state dir to the target's checkpoint, and returns the checkpoint to start
// from (see the top of this file). have: the target holds a checkpoint, st.
func (s *Syncer) finishPendingRejection(ctx context.Context, st checkpoint.State, have bool) (checkpoint.State, error) {
	p, pending, ok, err := s.loadPendingRejection()
	if err != nil || !ok {
		return st, err
	}
	switch {
	case have && st.HasRejected():
		s.dropPendingRejection()
		return st, nil
	case !have || st.ReplID != pending.ReplID || positionBefore(pending, st):
		// Nothing of this process moves the checkpoint past a rejection it
		// has not recorded: something else did (the key deleted, a new full
		// sync, an older redferry that went on). Recording it now would move
		// the checkpoint back and apply what followed twice.
		for _, r := range pending.Rejected {
			s.log.Error("a command the target rejected before redferry stopped was never recorded with the checkpoint, "+
				"and the target's checkpoint is no longer the one it stopped at: check the key on the target",
				zap.String("command", r.Command), zap.String("key", r.Key), zap.Int64("offset", r.Offset), zap.Int("db", r.DB),
				zap.String("reply", r.Answer), zap.String("replid", pending.ReplID))
		}
		s.dropPendingRejection()
		return st, nil
	}
	rec := pending
	if p.Partial && positionBefore(st, pending) {
		// The batch's checkpoint never landed: the record goes with the
		// checkpoint the target holds, from which the batch is applied again.
		rec = st
		rec.Rejected, rec.RejectedOmitted = pending.Rejected, pending.RejectedOmitted
	}
	s.log.Warn("redferry stopped before it recorded a command the target rejected: recording it with the checkpoint now",
		zap.Int64("checkpoint_offset", rec.Offset), zap.Int("rejected", len(rec.Rejected)+rec.RejectedOmitted),
		zap.Bool("batch_applied", rec.Offset == pending.Offset && rec.SnapshotPos == pending.SnapshotPos))
	if err := s.store.Record(ctx, rec); err != nil {
		return st, fmt.Errorf("recording the command the target rejected before redferry stopped (kept in %s): %w",
			s.pendingRejectionPath(), err)
	}
	s.dropPendingRejection()
	return rec, nil
}

// positionBefore reports whether checkpoint a is before b (of one stream).
func positionBefore(a, b checkpoint.State) bool {
	aSnap, bSnap := a.Phase == checkpoint.PhaseSnapshotReplay, b.Phase == checkpoint.PhaseSnapshotReplay
	switch {
	case aSnap != bSnap:
		return aSnap
	case aSnap:
		return a.SnapshotPos < b.SnapshotPos
	}
	return a.Offset < b.Offset
}
