package syncer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/checkpoint"
	"github.com/redferry/redferry/pkg/server"
)

// ErrReverseLinkActive: the source is the old source of a rollback-ready
// cutover whose reverse link has written into it, and no rollback recorded
// where the forward sync may resume.
var ErrReverseLinkActive = errors.New("the source is the rollback copy of the target (cutover --keep-rollback) and no rollback followed")

// afterRollback moves the forward checkpoint st past the writes a reverse link
// (redferry cutover --keep-rollback, then redferry rollback) made to the old
// source (see rollbackResume). The reverse link itself (StartAt set) and
// file checkpoints do not check. A source that does not let us read the
// keys is logged and not checked.
func (s *Syncer) afterRollback(ctx context.Context, st checkpoint.State) (checkpoint.State, error) {
	key := s.opt.CheckpointKey
	if key == "" || s.opt.StartAt != nil {
		return st, nil
	}
	rolledBack, err := s.sourceKey(ctx, checkpoint.RolledBackKey(key))
	if err != nil {
		return st, nil
	}
	reverse, err := s.sourceKey(ctx, checkpoint.ReverseKey(key))
	if err != nil {
		return st, nil
	}
	next, outcome, err := rollbackResume(st, key, reverse, rolledBack)
	if err != nil {
		return st, fmt.Errorf("the source %s: %w", s.opt.SourceName, err)
	}
	switch outcome {
	case resumeReplIDChanged:
		s.log.Warn("the source was rolled back to, but its replication id changed since the cutover (it restarted, or freed its backlog "+
			"after repl-backlog-ttl without replicas): the forward sync cannot resume and needs a full sync",
			zap.String("checkpoint_replid", st.ReplID), zap.String("rollback_replid", next.ReplID))
		return st, nil
	case resumeAfterRollback:
		s.log.Info("resuming after a rollback: skipping the writes the reverse link made to the source (they came from the target)",
			zap.String("replid", next.ReplID), zap.Int64("checkpoint_offset", st.Offset), zap.Int64("resume_offset", next.Offset),
			zap.Int64("skipped_bytes", next.Offset-st.Offset))
	}
	return next, nil
}

// What rollbackResume found.
type resumeOutcome int

const (
	resumeAsIs          resumeOutcome = iota // no rollback, or resumed past it already
	resumeAfterRollback                      // resume at the rollback's offset
	resumeReplIDChanged                      // rolled back, but the source's history changed: the checkpoint's PSYNC decides
)

// rollbackResume decides where the forward sync resumes, from its checkpoint
// st and the old source's keys (nil: absent): reverse, the reverse link's
// checkpoint (checkpoint.ReverseKey), and rolledBack, the rollback's record
// (checkpoint.RolledBackKey). The reverse link's writes into the old source
// are the target's own writes: copying them back to the target would apply
// them twice. The rollback records the old source's offset after them; a
// reverse link that wrote without a rollback, or after it, stops the forward
// sync: whatever it resumed from would repeat some of its writes or skip
// some of the clients'.
func rollbackResume(st checkpoint.State, ckey string, reverse, rolledBack []byte) (checkpoint.State, resumeOutcome, error) {
	key := func(f func(string) string) string { return f(ckey) }
	if rolledBack == nil {
		if reverse == nil {
			return st, resumeAsIs, nil
		}
		return st, resumeAsIs, fmt.Errorf("%w: it holds %s, the checkpoint of the reverse link that copies the target's writes into it. "+
			"Syncing forward now would copy those writes back to the target a second time. Switch back with `redferry rollback` "+
			"(against the redferry running the reverse link, or restart it with the same state dir: it resumes the reverse link), "+
			"then start the forward sync again. To sync from this source afresh instead (a full sync), delete that key from the source "+
			"and %s from the target, then sync with --flush-target",
			ErrReverseLinkActive, key(checkpoint.ReverseKey), ckey)
	}
	rb, err := checkpoint.Unmarshal(rolledBack)
	if err != nil {
		return st, resumeAsIs, fmt.Errorf("%s: %w (to sync from this source afresh, delete it and %s from the source and %s "+
			"from the target, then sync with --flush-target)", key(checkpoint.RolledBackKey), err, key(checkpoint.ReverseKey), ckey)
	}
	// A reverse link that ran again after the rollback (a restart before
	// the rollback was recorded as done) wrote past the rollback's offset.
	if reverse != nil {
		if rv, err := checkpoint.Unmarshal(reverse); err == nil && rv.UpdatedAt.After(rb.UpdatedAt) {
			return st, resumeAsIs, fmt.Errorf("%w: the reverse link's checkpoint %s is newer (%s) than the rollback recorded in %s (%s): "+
				"it wrote into the source after the rollback. Run `redferry rollback` again against the redferry running the reverse link",
				ErrReverseLinkActive, key(checkpoint.ReverseKey), rv.UpdatedAt.Format(time.RFC3339Nano),
				key(checkpoint.RolledBackKey), rb.UpdatedAt.Format(time.RFC3339Nano))
		}
	}
	switch {
	case rb.ReplID != st.ReplID:
		return rb, resumeReplIDChanged, nil
	case rb.Offset <= st.Offset:
		return st, resumeAsIs, nil
	}
	return rb, resumeAfterRollback, nil
}

// sourceKey reads a key of db 0 of the source; nil when it does not exist. A
// source that refuses the read (ACL) is logged: the check is then skipped.
func (s *Syncer) sourceKey(ctx context.Context, key string) ([]byte, error) {
	var c redis.Cmdable = s.sourceCtl
	if s.sourceInfo.ClusterEnabled {
		// A master of a cluster source (one shard's link): the key's slot
		// may be another master's.
		o := s.opt.Source
		o.PoolSize = 1
		cc := server.NewClusterClient(o)
		defer cc.Close()
		c = cc
	}
	v, err := c.Get(ctx, key).Bytes()
	switch {
	case errors.Is(err, redis.Nil):
		return nil, nil
	case err != nil:
		s.log.Warn("cannot read the source's rollback keys: not checking for a rollback-ready cutover (grant the source user +get on "+
			checkpoint.KeyPrefix+"*)", zap.String("key", key), zap.Error(err))
		return nil, err
	}
	return v, nil
}
