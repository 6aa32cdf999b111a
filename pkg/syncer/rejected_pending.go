package syncer

// The record of a rejected command outlives a kill between EXEC's reply and
// the record (rejected.go, step 1).
//
// The rejection shows only in EXEC's reply, and by then the batch's
// checkpoint, past the rejected command, is in the target. The record went
// to the target in one more round trip: a kill -9, a crash or a broken link
// during it left a checkpoint like any other, and a restart went on past
// the command without a word. Writing the record in the target earlier is
// impossible (nothing says before EXEC which command will be rejected), and
// holding the checkpoint back would apply the batch twice on a restart.
//
// So the applier writes the record to the state dir first
// (rejected-pending.json, fsynced; nothing but this local write stands
// between reading the reply and the record being durable), then to the
// target, then removes the file. A start reads the file before it looks at
// the checkpoint's rejections (plan → finishPendingRejection) and does what
// the killed process did not:
//
//   - the target's checkpoint lacks the rejections and is of the same
//     replication id (the batch's own checkpoint, or one a window sent
//     after it): the record is written to the target as recordRejected
//     would have written it, and the start stops there as after any
//     rejection;
//   - the target holds a record already (it landed; the file's removal was
//     lost): the file goes;
//   - the target holds no checkpoint of that stream any more (emptied for a
//     new full sync, the key deleted by hand): the file goes, its commands
//     logged as an error, since they may be missing from the target.
//
// A kill while a batch is in flight, before its reply is read, still leaves
// nothing to learn the outcome from (rejected.go, "What this cannot see").

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/checkpoint"
	"github.com/redferry/redferry/pkg/fsutil"
)

// pendingRejectionFile is the record of a rejected command not yet known to
// be in the checkpoint, in the state dir.
const pendingRejectionFile = "rejected-pending.json"

func (s *Syncer) pendingRejectionPath() string {
	return filepath.Join(s.opt.StateDir, pendingRejectionFile)
}

// savePendingRejection makes st (the batch's checkpoint with its rejections)
// durable in the state dir.
func (s *Syncer) savePendingRejection(st checkpoint.State) error {
	if err := fsutil.WriteAtomic(s.opt.StateDir, pendingRejectionFile, st.Marshal()); err != nil {
		return fmt.Errorf("writing the record of the rejected command to %s: %w", s.pendingRejectionPath(), err)
	}
	return nil
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
func (s *Syncer) loadPendingRejection() (st checkpoint.State, ok bool, err error) {
	b, err := os.ReadFile(s.pendingRejectionPath())
	switch {
	case errors.Is(err, os.ErrNotExist):
		return checkpoint.State{}, false, nil
	case err != nil:
		return checkpoint.State{}, false, fmt.Errorf("reading the record of a rejected command: %w", err)
	}
	if st, err = checkpoint.Unmarshal(b); err != nil {
		return checkpoint.State{}, false, fmt.Errorf("the record of a rejected command %s: %w (it holds the command the target "+
			"rejected before redferry stopped: read it, check that key on the target, then delete the file)", s.pendingRejectionPath(), err)
	}
	return st, true, nil
}

// finishPendingRejection writes a record of rejected commands left in the
// state dir to the target's checkpoint, and returns the checkpoint to start
// from (see the top of this file). have: the target holds a checkpoint, st.
func (s *Syncer) finishPendingRejection(ctx context.Context, st checkpoint.State, have bool) (checkpoint.State, error) {
	pending, ok, err := s.loadPendingRejection()
	if err != nil || !ok {
		return st, err
	}
	switch {
	case have && st.HasRejected():
		s.dropPendingRejection()
		return st, nil
	case !have || st.ReplID != pending.ReplID:
		for _, r := range pending.Rejected {
			s.log.Error("a command the target rejected before redferry stopped was never recorded with the checkpoint, "+
				"and the target holds no checkpoint of that stream any more: check the key on the target",
				zap.String("command", r.Command), zap.String("key", r.Key), zap.Int64("offset", r.Offset), zap.Int("db", r.DB),
				zap.String("reply", r.Answer), zap.String("replid", pending.ReplID))
		}
		s.dropPendingRejection()
		return st, nil
	}
	s.log.Warn("redferry stopped before it recorded a command the target rejected: recording it with the checkpoint now",
		zap.Int64("checkpoint_offset", st.Offset), zap.Int("rejected", len(pending.Rejected)+pending.RejectedOmitted))
	if err := s.store.Record(ctx, pending); err != nil {
		return st, fmt.Errorf("recording the command the target rejected before redferry stopped (kept in %s): %w",
			s.pendingRejectionPath(), err)
	}
	s.dropPendingRejection()
	return pending, nil
}
