package sink

import (
	"context"
	"fmt"

	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/checkpoint"
	"github.com/redferry/redferry/pkg/server"
)

// Lowering the stream positions to a fork of the source's history.
//
// After a switchover of the source the old master may have sent PINGs
// past the point where the promoted replica's history forks from its own
// (pkg/syncer/fork.go). The syncer cuts them off its spool and continues
// at the fork. A batch is committed at the offset after the last command
// it read, PINGs included: one holding data before the fork and a PING
// after it records a position past the fork, in the target. Left there, a
// standalone target's checkpoint asks the new master for bytes past its
// history (a needless full sync), and a cluster target's marks cover the
// new master's first writes at offsets in (fork, mark]: a restart skips
// them as applied, and they are lost.
//
// So before the cut the syncer lowers every stream position of this sync
// in the target past the fork down to it. That is exact, not a guess: past
// the fork there are only PINGs and REPLCONFs, which wrote nothing. A
// snapshot position (a key of the snapshot being applied) is no stream
// offset and is left alone. Only this writer's checkpoint key and its marks
// are touched: the shards of a cluster source share the target, each with
// a checkpoint key of its own.

// LowerStreamPositions lowers the checkpoint, when it is a stream offset
// past fork, to fork (see above). Idempotent.
func (s *Standalone) LowerStreamPositions(ctx context.Context, fork int64) error {
	if s.cfg.CheckpointKey == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.ensureConn(ctx); err != nil {
		return err
	}
	v, err := s.getCheckpoint()
	if err != nil {
		s.dropConn()
		return fmt.Errorf("sink: reading the checkpoint key %s to lower it to offset %d: %w", s.cfg.CheckpointKey, fork, err)
	}
	if v == nil {
		return nil
	}
	low, lowered, err := checkpoint.LowerStream(v, fork)
	if err != nil {
		return fmt.Errorf("sink: the checkpoint key %s: %w (delete it to start a new full sync)", s.cfg.CheckpointKey, err)
	}
	if !lowered {
		return nil
	}
	// getCheckpoint left the connection in db 0, where the key lives.
	r, err := s.conn.do("SET", s.cfg.CheckpointKey, string(low))
	if err == nil && r.isError() {
		err = fmt.Errorf("%s", r.Line)
	}
	if err != nil {
		s.dropConn()
		return fmt.Errorf("sink: lowering the checkpoint key %s to offset %d: %w", s.cfg.CheckpointKey, fork, err)
	}
	s.log.Info("lowered the checkpoint to the source's fork", zap.Int64("fork", fork))
	return nil
}

// LowerStreamPositions lowers every mark of this sync whose Upto, or whose
// Done, is a stream offset past fork, to fork (see above): the marks of
// the slots, those of broadcasts (Slots), and the done slot's. Each mark
// is read by its name where its slot is served, as loadMarks reads them,
// and written back with a new nonce. The done slot's mark goes last:
// until it is lowered the restart resumes past the fork and, finding the
// PINGs still in the spool, lowers again. The marks read by the last
// LoadCheckpoint are lowered alike. Idempotent.
func (c *Cluster) LowerStreamPositions(ctx context.Context, fork int64) error {
	if c.cfg.CheckpointKey == "" {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.refresh(ctx); err != nil {
		return err
	}
	done, sent := c.markKey(c.doneSlot()), c.sentKey()
	var doneValue []byte
	lowered := 0
	err := c.visitMarks(ctx, func(addr, key string, v []byte) error {
		if key == sent {
			return nil // the snapshot's intent: no stream offset
		}
		low, ok, err := c.lowerMark(v, fork)
		if err != nil {
			return fmt.Errorf("sink: the checkpoint mark %s on %s: %w (delete the marks to start a new full sync)", key, addr, err)
		}
		switch {
		case !ok:
		case key == done:
			doneValue = low
		default:
			if err := c.writeMark(ctx, key, low); err != nil {
				return err
			}
			lowered++
		}
		return nil
	})
	if err != nil {
		return err
	}
	if doneValue != nil {
		if err := c.writeMark(ctx, done, doneValue); err != nil {
			return err
		}
		lowered++
	}
	if err := c.lowerRead(fork); err != nil {
		return err
	}
	if lowered > 0 {
		c.log.Info("lowered the checkpoint marks to the source's fork", zap.Int64("fork", fork), zap.Int("marks", lowered))
	}
	return nil
}

// lowerMark returns the encoded mark v with its Upto and Done lowered to
// fork where they are stream offsets past it, and whether anything was.
func (c *Cluster) lowerMark(v []byte, fork int64) ([]byte, bool, error) {
	mk, err := decodeMark(v)
	if err != nil {
		return nil, false, err
	}
	lowered := mk.Upto.lowerTo(fork)
	if mk.Done != nil {
		done, ok, err := checkpoint.LowerStream(mk.Done, fork)
		if err != nil {
			return nil, false, fmt.Errorf("its checkpoint: %w", err)
		}
		if ok {
			mk.Done, lowered = done, true
		}
	}
	if !lowered {
		return nil, false, nil
	}
	c.nonce++
	mk.Nonce = c.nonce
	return appendMark(nil, &mk), true, nil
}

// lowerRead lowers what the last LoadCheckpoint read as the marks above
// were lowered: the slots' watermarks and the checkpoint to resume from.
func (c *Cluster) lowerRead(fork int64) error {
	if m := c.marks; m != nil {
		m.max = position{}
		for s := range server.SlotCount {
			if !m.has[s] {
				continue
			}
			m.slot[s].lowerTo(fork)
			if m.max.less(m.slot[s]) {
				m.max = m.slot[s]
			}
		}
	}
	if c.resume != nil {
		low, _, err := checkpoint.LowerStream(c.resume, fork)
		if err != nil {
			return fmt.Errorf("sink: the checkpoint to resume from: %w", err)
		}
		c.resume = low
	}
	return nil
}
