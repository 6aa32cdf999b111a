package sink

import (
	"context"
	"time"

	"github.com/redferry/redferry/pkg/retry"
	"go.uber.org/zap"
)

// broadcast applies a command of every master (FLUSHALL, FLUSHDB, FUNCTION,
// SCRIPT) on each master of the cluster, once, in a transaction whose mark
// stands for all the master's slots (a FLUSHALL removed their marks).
// Everything before it in the batch is applied (the caller's barrier).
func (tx *clusterTx) broadcast(ctx context.Context, p piece) error {
	c := tx.c
	done := map[string]bool{}
	upto := position{Streaming: tx.streaming, Off: p.off}
	if !tx.streaming {
		upto.Off++ // in the snapshot, the first entry not complete is the next one
	}
	bo := retry.Backoff{Initial: 20 * time.Millisecond, Max: time.Second}
	for round := 0; ; round++ {
		work := map[string][]*slotTx{}
		for m, addr := range c.topo.masters {
			if done[addr] || tx.broadcastCovered(m, p.off) {
				continue
			}
			slot := c.masterSlot(m)
			work[addr] = []*slotTx{{slot: slot, claim: c.topo.slotsOf(m), pieces: []piece{p}}}
		}
		if len(work) == 0 {
			return nil
		}
		results := tx.sendAll(ctx, work, upto)
		refresh := false
		for addr, txs := range work {
			again, err := tx.outcome(ctx, addr, txs[0], results[addr][0], upto)
			if err != nil {
				return err
			}
			if again == nil {
				done[addr] = true
				continue
			}
			if len(again.pieces) == 0 {
				done[addr] = true // rejected and skipped (on-target-error = log)
				continue
			}
			refresh = true
		}
		if refresh {
			c.log.Info("the target cluster redirected a command for every master: following", zap.Int("round", round))
			if err := retry.Sleep(ctx, bo.Next()); err != nil {
				return err
			}
			if err := c.refresh(ctx); err != nil {
				return err
			}
		}
	}
}

// broadcastCovered: after a restart, master m already applied the
// broadcast at off when the marks of all its slots say so.
func (tx *clusterTx) broadcastCovered(m int, off int64) bool {
	mk := tx.c.marks
	if mk == nil || !tx.withMarks {
		return false
	}
	for s, o := range tx.c.topo.owner {
		if int(o) == m && !mk.covered(s, tx.streaming, off) {
			return false
		}
	}
	return true
}
