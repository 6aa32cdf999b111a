package sink

import (
	"context"
	"fmt"
	"time"

	"github.com/redferry/redferry/pkg/retry"

	"go.uber.org/zap"
)

// retryTx is what of a transaction must be sent again, and how.
type retryTx struct {
	pieces  []piece
	refresh bool   // read the topology first
	wait    bool   // back off first (TRYAGAIN, CLUSTERDOWN, unreachable)
	askAddr string // send to this node with ASKING
}

// outcome deals with one transaction's result: nil when it is applied (or
// its rejected commands skipped), else what to send again.
func (tx *clusterTx) outcome(ctx context.Context, addr string, st *slotTx, r txResult, upto position) (*retryTx, error) {
	c := tx.c
	b := st.batch
	switch {
	case r.lost:
		if ctx.Err() != nil {
			return nil, fmt.Errorf("sink: batch interrupted, its outcome is unknown until the checkpoint is read: %w", ctx.Err())
		}
		applied, err := tx.resolveLost(ctx, addr, st)
		if err != nil {
			return nil, err
		}
		if applied {
			c.stats.applied.Add(int64(len(st.pieces)))
			return nil, nil
		}
		return &retryTx{pieces: st.pieces, refresh: true}, nil
	case r.down:
		c.log.Warn("target node unreachable: reading the cluster's slots again", zap.String("node", addr), zap.Error(r.err))
		return &retryTx{pieces: st.pieces, refresh: true, wait: true}, nil
	case r.err != nil:
		return nil, r.err
	}
	res := r.res
	// index maps the transaction's commands to pieces (SELECTs are ours).
	index := make([]int, 0, b.Len())
	db := b.StartDB
	for i, p := range st.pieces {
		if p.db != db {
			index = append(index, -1)
			db = p.db
		}
		index = append(index, i)
	}
	if db != 0 {
		index = append(index, -1)
	}
	if res.ctlErr != "" || len(res.queueErrs) > 0 {
		again := &retryTx{}
		var rejected cmdErrs
		note := func(msg string) bool {
			rd, ok := parseRedirect(msg)
			if !ok {
				return false
			}
			switch rd.kind {
			case "MOVED":
				again.refresh = true
			case "ASK":
				again.askAddr = rd.addr
				c.avoid[st.slot] = true
			default:
				again.wait = true
				again.refresh = again.refresh || rd.kind == "CLUSTERDOWN"
			}
			return true
		}
		if res.ctlErr != "" && !note(stripCtl(res.ctlErr)) && len(res.queueErrs) == 0 {
			return nil, fmt.Errorf("sink: target master %s refused the batch frame (%s); nothing of its part was applied", addr, res.ctlErr)
		}
		for bi, msg := range res.queueErrs {
			if index[bi] < 0 {
				return nil, fmt.Errorf("sink: target master %s refused SELECT: %s", addr, msg)
			}
			if !note(msg) {
				if rejected == nil {
					rejected = cmdErrs{}
				}
				rejected[bi] = msg
			}
		}
		if len(rejected) > 0 {
			c.stats.errors.Add(int64(len(rejected)))
			if tx.stop {
				return nil, firstTargetError(b, rejected, false)
			}
			for _, bi := range rejected.sorted() {
				tx.skip(newTargetError(b, bi, rejected[bi], false))
			}
			c.stats.skipped.Add(int64(len(rejected)))
		}
		for bi, pi := range index {
			if _, bad := rejected[bi]; pi >= 0 && !bad {
				again.pieces = append(again.pieces, st.pieces[pi])
			}
		}
		if again.askAddr != "" && (again.refresh || again.wait) {
			again.askAddr = "" // mixed answers: the slot is settling, ask again
		}
		return again, nil
	}
	c.stats.applied.Add(int64(len(st.pieces) - len(res.execErrs)))
	if len(res.execErrs) == 0 {
		return nil, nil
	}
	c.stats.errors.Add(int64(len(res.execErrs)))
	if tx.stop {
		// Every slot's rejections are kept: the batch goes on in the other
		// slots, and each rejected command needs its record.
		rc := rejectedCommands(b, res.execErrs)
		if te, ok := tx.err.(*TargetError); ok {
			te.Rejected = append(te.Rejected, rc...)
			te.Others += len(rc)
		} else if tx.err == nil {
			e := firstTargetError(b, res.execErrs, true)
			e.Rejected = rc
			tx.err = e
		}
		if te, ok := tx.err.(*TargetError); ok && tx.onRejected != nil {
			tx.onRejected(te.Rejected)
		}
		return nil, nil
	}
	c.stats.skipped.Add(int64(len(res.execErrs)))
	for _, bi := range res.execErrs.sorted() {
		tx.skip(newTargetError(b, bi, res.execErrs[bi], true))
	}
	return nil, nil
}

// stripCtl drops the "SET <checkpoint key>: " naming our own command.
func stripCtl(s string) string {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == ':' && s[i+1] == ' ' {
			return s[i+2:]
		}
	}
	return s
}

func (tx *clusterTx) skip(e *TargetError) {
	c := tx.c
	c.log.Error("target rejected a command: skipped it (on-target-error = log), its write is lost",
		zap.String("command", e.Command), zap.ByteString("key", e.Key), zap.Int64("offset", e.Offset),
		zap.String("reply", e.Message), zap.Bool("batch_applied", e.Applied))
	if c.cfg.OnSkipped != nil {
		c.cfg.OnSkipped(e)
	}
}

// resolveLost decides whether a transaction whose replies were lost (its
// master died, or failed over) was applied, by reading its mark back from
// whichever node serves the slot now.
func (tx *clusterTx) resolveLost(ctx context.Context, addr string, st *slotTx) (bool, error) {
	c := tx.c
	if !tx.withMarks {
		c.log.Warn("resending a transaction whose outcome is unknown (no checkpoint): its commands may apply twice",
			zap.String("node", addr), zap.Int("commands", len(st.pieces)))
		return false, c.refresh(ctx)
	}
	key := c.markKey(st.slot)
	bo := retry.Backoff{Initial: 100 * time.Millisecond, Max: 2 * time.Second}
	deadline := time.Now().Add(4 * c.cfg.IOTimeout)
	for {
		if err := c.refresh(ctx); err != nil {
			return false, err
		}
		v, err := c.readKey(ctx, key)
		if err == nil {
			applied := string(v) == string(st.batch.Checkpoint)
			c.log.Info("checked a transaction whose replies were lost against its slot's mark",
				zap.String("node", addr), zap.Int("slot", st.slot), zap.Bool("applied", applied))
			if applied {
				c.stats.unknown.Add(1)
			}
			return applied, nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return false, fmt.Errorf("sink: reading the checkpoint mark %s after a lost connection: %w", key, err)
		}
		c.log.Warn("cannot read the checkpoint mark yet: retrying", zap.Error(err))
		if err := retry.Sleep(ctx, bo.Next()); err != nil {
			return false, err
		}
	}
}
