package sink

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/redferry/redferry/pkg/retry"

	"go.uber.org/zap"

	"github.com/redferry/redferry/protocol"
)

// Apply writes the batch as MULTI, SELECT StartDB, the commands, [SELECT 0,
// SET checkpoint], EXEC in one write and reads every reply. A command the
// target rejects is a *TargetError with OnError "stop"; with "log" it is
// logged, handed to Config.OnSkipped and left out.
func (s *Standalone) Apply(ctx context.Context, b *Batch) error {
	return s.apply(ctx, b, s.cfg.OnError == OnErrorStop, false)
}

// ApplyStrict is Apply as with OnError "stop", whatever the Config says,
// and it returns ErrOutcomeUnknown when the batch's replies were lost after
// it was applied: for a batch whose every answer must be known (a retry of
// a rejected command).
func (s *Standalone) ApplyStrict(ctx context.Context, b *Batch) error {
	return s.apply(ctx, b, true, true)
}

// apply: stop returns a rejected command as a *TargetError instead of
// skipping it; needOutcome returns ErrOutcomeUnknown instead of going on
// when the batch's replies were lost.
func (s *Standalone) apply(ctx context.Context, b *Batch, stop, needOutcome bool) error {
	if b.Len() == 0 && b.Checkpoint == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := b
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.ensureConn(ctx); err != nil {
			return err
		}
		res, err := s.send(ctx, cur)
		if err != nil {
			s.dropConn()
			if ctxErr := ctx.Err(); ctxErr != nil {
				return fmt.Errorf("sink: batch interrupted, its outcome is unknown until the checkpoint is read: %w", ctxErr)
			}
			if !retryable(err) {
				return err
			}
			if needOutcome && cur.Len() > 0 && (s.cfg.CheckpointKey == "" || cur.Checkpoint == nil) {
				// No checkpoint to tell whether it was applied, and resending
				// could apply it twice.
				return fmt.Errorf("%w: %w", ErrOutcomeUnknown, err)
			}
			s.log.Warn("connection lost during a batch", zap.Int("commands", cur.Len()), zap.Error(err))
			applied, err := s.recoverBatch(ctx, cur)
			if err != nil {
				return err
			}
			if applied {
				s.stats.applied.Add(int64(cur.Len()))
				s.stats.batches.Add(1)
				if cur.Len() > 0 {
					s.stats.unknown.Add(1)
					s.log.Warn("a batch was applied but its replies were lost: whether the target rejected a command of it "+
						"cannot be known; check its keys with redferry verify", zap.Int("commands", cur.Len()),
						zap.Int64("first_offset", cur.Offset(0)), zap.Int64("last_offset", cur.Offset(cur.Len()-1)))
					if needOutcome {
						return ErrOutcomeUnknown
					}
				}
				return nil
			}
			continue
		}
		if res.ctlErr != "" {
			return fmt.Errorf("sink: target refused the batch frame (%s); nothing of the batch was applied", res.ctlErr)
		}
		if len(res.queueErrs) > 0 {
			if stop {
				s.stats.errors.Add(int64(len(res.queueErrs)))
				return firstTargetError(cur, res.queueErrs, false)
			}
			for _, i := range res.queueErrs.sorted() {
				s.skip(newTargetError(cur, i, res.queueErrs[i], false))
			}
			s.stats.skipped.Add(int64(len(res.queueErrs)))
			s.stats.errors.Add(int64(len(res.queueErrs)))
			cur = cur.without(res.queueErrs.set())
			continue
		}
		s.stats.batches.Add(1)
		s.stats.applied.Add(int64(cur.Len() - len(res.execErrs)))
		if len(res.execErrs) > 0 {
			s.stats.errors.Add(int64(len(res.execErrs)))
			if stop {
				e := firstTargetError(cur, res.execErrs, true)
				e.Rejected = rejectedCommands(cur, res.execErrs)
				return e
			}
			s.stats.skipped.Add(int64(len(res.execErrs)))
			for _, i := range res.execErrs.sorted() {
				s.skip(newTargetError(cur, i, res.execErrs[i], true))
			}
		}
		return nil
	}
}

// recoverBatch reconnects and decides whether the batch whose outcome was
// lost was applied: by the checkpoint key when there is one. A connection
// lost again while reading the checkpoint is retried.
func (s *Standalone) recoverBatch(ctx context.Context, b *Batch) (applied bool, err error) {
	bo := retry.Backoff{Initial: 50 * time.Millisecond, Max: 5 * time.Second}
	for {
		if err := s.ensureConn(ctx); err != nil {
			return false, err
		}
		if s.cfg.CheckpointKey == "" || b.Checkpoint == nil {
			s.log.Warn("resending a batch whose outcome is unknown (no checkpoint in the batch): its commands may apply twice",
				zap.Int("commands", b.Len()))
			return false, nil
		}
		v, err := s.getCheckpoint()
		if err == nil {
			applied = bytes.Equal(v, b.Checkpoint)
			s.log.Info("checked lost batch against the target's checkpoint", zap.Bool("applied", applied))
			return applied, nil
		}
		s.dropConn()
		if !retryable(err) || ctx.Err() != nil {
			return false, fmt.Errorf("sink: read checkpoint after reconnect: %w", errors.Join(err, ctx.Err()))
		}
		wait := bo.Next()
		s.log.Warn("connection lost while reading the checkpoint, retrying", zap.Duration("backoff", wait), zap.Error(err))
		if err := retry.Sleep(ctx, wait); err != nil {
			return false, fmt.Errorf("sink: read checkpoint after reconnect: %w", err)
		}
	}
}

// skip logs a command left out with OnError "log" and tells OnSkipped.
func (s *Standalone) skip(e *TargetError) {
	s.log.Error("target rejected a command: skipped it (on-target-error = log), its write is lost",
		zap.String("command", e.Command), zap.ByteString("key", e.Key),
		zap.Int64("offset", e.Offset), zap.String("reply", e.Message), zap.Bool("batch_applied", e.Applied))
	if s.cfg.OnSkipped != nil {
		s.cfg.OnSkipped(e)
	}
}

type cmdErrs map[int]string

// sorted returns the indexes in batch order.
func (m cmdErrs) sorted() []int {
	return slices.Sorted(maps.Keys(m))
}

func (m cmdErrs) set() map[int]bool {
	s := make(map[int]bool, len(m))
	for i := range m {
		s[i] = true
	}
	return s
}

func firstTargetError(b *Batch, errs cmdErrs, applied bool) *TargetError {
	first := -1
	for i := range errs {
		if first < 0 || i < first {
			first = i
		}
	}
	e := newTargetError(b, first, errs[first], applied)
	e.Others = len(errs) - 1
	return e
}

type sendResult struct {
	queueErrs cmdErrs // commands refused at queue time: EXEC aborted
	execErrs  cmdErrs // commands that failed inside EXEC: the batch applied
	ctlErr    string  // our own MULTI/SELECT/SET/EXEC failed
}

var (
	cmdMulti  = protocol.AppendCommandString(nil, "MULTI")
	cmdAsking = protocol.AppendCommandString(nil, "ASKING")
	cmdExec   = protocol.AppendCommandString(nil, "EXEC")
	cmdSel0   = protocol.AppendCommandString(nil, "SELECT", "0")
)

func (s *Standalone) send(ctx context.Context, b *Batch) (sendResult, error) {
	c := s.conn
	stop := context.AfterFunc(ctx, func() { _ = c.nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	c.writeDeadline()
	c.writeTx(b, s.cfg.CheckpointKey)
	if err := c.w.Flush(); err != nil {
		return sendResult{}, err
	}
	return c.readTx(b, s.cfg.CheckpointKey, s.cfg.Addr)
}

// writeTx buffers the batch's transaction: [ASKING] MULTI, SELECT StartDB,
// the commands, [SELECT 0, SET cpKey Checkpoint], EXEC.
func (c *conn) writeTx(b *Batch, cpKey string) {
	c.scratch = c.scratch[:0]
	if b.asking {
		// Cluster: the transaction writes keys of a slot being imported.
		c.scratch = append(c.scratch, cmdAsking...)
	}
	c.scratch = append(c.scratch, cmdMulti...)
	if !b.noSelect {
		c.scratch = protocol.AppendCommandString(c.scratch, "SELECT", strconv.Itoa(b.StartDB))
	}
	w := c.w
	_, _ = w.Write(c.scratch)
	_, _ = w.Write(b.buf)
	if b.Checkpoint != nil && cpKey != "" {
		c.scratch = c.scratch[:0]
		if !b.noSelect {
			c.scratch = append(c.scratch, cmdSel0...)
		}
		c.scratch = append(c.scratch, "*3\r\n$3\r\nSET\r\n"...)
		c.scratch = appendLen(c.scratch, '$', len(cpKey))
		c.scratch = append(append(c.scratch, cpKey...), '\r', '\n')
		c.scratch = appendLen(c.scratch, '$', len(b.Checkpoint))
		c.scratch = append(append(c.scratch, b.Checkpoint...), '\r', '\n')
		_, _ = w.Write(c.scratch)
	}
	_, _ = w.Write(cmdExec)
}

// readTx reads the replies of a transaction written by writeTx. It
// touches only the connection's reading side, so one goroutine may read a
// batch while another writes the next (Window).
func (c *conn) readTx(b *Batch, cpKey, addr string) (sendResult, error) {
	var res sendResult
	if b.asking {
		c.readDeadline()
		r, err := c.rr.read()
		if err != nil {
			return res, err
		}
		if r.isError() {
			res.ctlErr = "ASKING: " + string(r.Line)
		}
	}
	// MULTI
	c.readDeadline()
	r, err := c.rr.read()
	if err != nil {
		return res, err
	}
	if err := checkNoAuth(r, addr); err != nil {
		return res, err
	}
	if r.isError() && res.ctlErr == "" {
		res.ctlErr = "MULTI: " + string(r.Line)
	}
	withCP := b.Checkpoint != nil && cpKey != ""
	n := b.Len()
	sel := 1 // SELECT StartDB before the commands, SELECT 0 before the checkpoint
	if b.noSelect {
		sel = 0
	}
	total := sel + n
	if withCP {
		total += sel + 1
	}
	for j := 0; j < total; j++ {
		c.readDeadline()
		r, err := c.rr.read()
		if err != nil {
			return res, err
		}
		if !r.isError() {
			continue
		}
		if i := j - sel; i >= 0 && i < n {
			if res.queueErrs == nil {
				res.queueErrs = cmdErrs{}
			}
			res.queueErrs[i] = string(r.Line)
		} else if res.ctlErr == "" {
			res.ctlErr = ctlName(j, n, sel) + ": " + string(r.Line)
		}
	}
	c.readDeadline()
	r, err = c.rr.read()
	if err != nil {
		return res, err
	}
	switch {
	case r.isError():
		if res.queueErrs == nil && res.ctlErr == "" {
			res.ctlErr = "EXEC: " + string(r.Line)
		}
	case r.Type != respArray || r.Nil:
		res.ctlErr = "EXEC: transaction discarded"
	default:
		for k, msg := range r.Errs {
			if i := k - sel; i >= 0 && i < n {
				if res.execErrs == nil {
					res.execErrs = cmdErrs{}
				}
				res.execErrs[i] = msg
			} else if res.ctlErr == "" {
				res.ctlErr = ctlName(k, n, sel) + ": " + msg
			}
		}
	}
	return res, nil
}

// ctlName names our own command at reply j of a transaction of n commands
// (sel: 1 with the SELECTs, 0 without).
func ctlName(j, n, sel int) string {
	switch {
	case j < sel:
		return "SELECT <StartDB>"
	case sel == 1 && j == n+1:
		return "SELECT 0 (checkpoint)"
	default:
		return "SET <checkpoint key>"
	}
}
