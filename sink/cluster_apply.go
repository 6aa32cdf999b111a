package sink

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redferry/redferry/pkg/retry"

	"go.uber.org/zap"
)

// Apply routes the batch's commands by slot and applies them as one
// MULTI/EXEC per slot with the slot's checkpoint mark (cluster_mark.go),
// each master's transactions on its own connection, the masters in
// parallel. A command the target rejects is handled as Standalone.Apply
// does (OnError).
func (c *Cluster) Apply(ctx context.Context, b *Batch) error {
	return c.apply(ctx, b, c.cfg.OnError == OnErrorStop)
}

// ApplyStrict is Apply stopping on any rejected command.
func (c *Cluster) ApplyStrict(ctx context.Context, b *Batch) error { return c.apply(ctx, b, true) }

// clusterTx is one batch being applied.
type clusterTx struct {
	c         *Cluster
	stop      bool
	withMarks bool
	streaming bool // the batch's commands carry stream offsets (not snapshot positions)
	retry     bool // Batch.Retry: applied whatever the marks say
	err       error
	// onRejected: Batch.OnExecRejected.
	onRejected func([]RejectedCommand)
}

func (c *Cluster) apply(ctx context.Context, b *Batch, stop bool) error {
	if b.Len() == 0 && b.Checkpoint == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	tx := &clusterTx{c: c, stop: stop, streaming: true, retry: b.Retry, onRejected: b.OnExecRejected}
	var final position
	if b.Checkpoint != nil && c.cfg.CheckpointKey != "" {
		var err error
		if final, err = positionOf(b.Checkpoint); err != nil {
			return fmt.Errorf("sink: the batch's checkpoint: %w", err)
		}
		tx.withMarks = true
		tx.streaming = final.Streaming
	}
	if err := c.checkAtomic(b); err != nil {
		return err
	}
	db := b.StartDB
	var seg []piece
	// barrier applies what the batch holds before the command at off: in
	// the stream every offset before off, in the snapshot every key before
	// the entry at off.
	barrier := func(off int64) error {
		upto := position{Streaming: tx.streaming, Off: off}
		if tx.streaming {
			upto.Off--
		}
		err := tx.commit(ctx, seg, upto)
		seg = seg[:0]
		return err
	}
	for i := 0; i < b.Len(); i++ {
		args, off := b.commandView(i) // the batch does not change during apply
		if len(args) == 0 {
			return fmt.Errorf("sink: command %d of the batch does not parse", i)
		}
		r := c.cmds.route(args)
		if r.kind == routeSelect {
			n, err := strconv.Atoi(string(args[1]))
			if err != nil || len(args) != 2 {
				return fmt.Errorf("sink: SELECT %q at source offset %d: not a db number", args[1:], off)
			}
			db = n
			continue
		}
		if db != 0 && !c.dbs {
			return dbError(db, args, off)
		}
		switch {
		case r.kind == routeBroadcast:
			if err := barrier(off); err != nil {
				return err
			}
			if err := tx.broadcast(ctx, piece{raw: b.Raw(i), args: args, off: off, db: db, slot: -1, bcast: true}); err != nil {
				return err
			}
			continue
		case r.kind == routeKeys && r.split == splitMove:
			if _, same := sameSlot(r.keys); !same {
				// The move reads the values that what precedes it wrote.
				if err := barrier(off); err != nil {
					return err
				}
				if err := tx.move(ctx, args, off, db, r); err != nil {
					return err
				}
				continue
			}
		}
		var err error
		if seg, err = c.appendPieces(seg, args, b.Raw(i), off, db, r); err != nil {
			return err
		}
	}
	if err := tx.commit(ctx, seg, final); err != nil {
		return err
	}
	if tx.withMarks {
		if err := c.writeDone(ctx, final, b.Checkpoint); err != nil {
			return err
		}
		c.resume = b.Checkpoint
		if !final.Streaming {
			c.carry = final // the key the next batch may continue
		}
		if c.marks != nil && c.marks.max.less(final) && (final.Streaming || c.marks.sent < final.Off) {
			c.marks = nil // every command from here on is past every mark, and past every key sent without one
		}
	}
	c.stats.batches.Add(1)
	return tx.err
}

// writeDone records the batch as wholly applied: its checkpoint in the
// done slot's mark (every command of that slot up to final is applied too).
func (c *Cluster) writeDone(ctx context.Context, final position, cp []byte) error {
	c.nonce++
	v := appendMark(nil, &mark{Upto: final, Done: cp, Nonce: c.nonce})
	return c.writeMark(ctx, c.markKey(c.doneSlot()), v)
}

// skipApplied drops the pieces the marks say were applied before a
// restart, and deletes a snapshot key that may be half applied, or written
// without a mark (cluster_snapshot.go), before it is rebuilt.
func (tx *clusterTx) skipApplied(ps []piece) []piece {
	m := tx.c.marks
	if m == nil || !tx.withMarks || tx.retry {
		return ps
	}
	out := ps[:0:0]
	for _, p := range ps {
		slot := max(p.slot, 0) // keyless: in slot 0's transaction
		if m.covered(slot, tx.streaming, p.off) {
			continue
		}
		if p.key != nil && (m.halfApplied(slot, tx.streaming, p.off) || m.maySent(tx.streaming, p.off)) {
			m.deleted[p.off] = true
			out = append(out, piece{args: [][]byte{[]byte("DEL"), p.key}, off: p.off, db: p.db, slot: p.slot, key: p.key})
		}
		out = append(out, p)
	}
	return out
}

// slotTx is one MULTI/EXEC: the commands of one slot.
type slotTx struct {
	slot   int
	asking bool   // sent with ASKING to the node importing the slot
	claim  string // a broadcast's mark also stands for these slots
	pieces []piece
	batch  *Batch // as sent
	// markBuf: the encoded mark (batch.Checkpoint), its buffer reused.
	markBuf []byte
}

// commit applies a segment of the batch: rounds of transactions, each
// master's on its connection, the masters in parallel, until every piece
// is applied. upto is the position every command of the segment is at or
// below.
func (tx *clusterTx) commit(ctx context.Context, ps []piece, upto position) error {
	c := tx.c
	ps = tx.skipApplied(ps)
	if len(ps) > 0 && tx.snapshotFast() {
		// Step 1 of a snapshot segment (cluster_snapshot.go); what is left
		// goes one transaction per slot, with marks.
		var err error
		if ps, err = tx.sendSnapshot(ctx, ps, upto); err != nil {
			return err
		}
	}
	if len(ps) == 0 {
		return nil
	}
	pending := ps
	asks := map[int]string{} // slot → the node that answered ASK for it
	bo := retry.Backoff{Initial: 20 * time.Millisecond, Max: time.Second}
	for round := 0; len(pending) > 0; round++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		work := tx.bySlot(pending, asks)
		pending = nil
		asks = map[int]string{}
		results := tx.sendAll(ctx, work, upto)
		refresh, wait := false, false
		for addr, txs := range work {
			for i, st := range txs {
				res := results[addr][i]
				again, err := tx.outcome(ctx, addr, st, res, upto)
				if err != nil {
					return err
				}
				if again == nil {
					continue
				}
				pending = append(pending, again.pieces...)
				refresh = refresh || again.refresh
				wait = wait || again.wait
				if again.askAddr != "" {
					asks[st.slot] = again.askAddr
				}
			}
		}
		if len(pending) == 0 {
			return nil
		}
		logAt := c.log.Debug
		if round < 3 || round%20 == 0 { // a slot migration may take a while: not every round
			logAt = c.log.Info
		}
		logAt("the target cluster redirected part of a batch: following", zap.Int("round", round),
			zap.Int("commands", len(pending)), zap.Bool("topology_refresh", refresh), zap.Int("asking", len(asks)))
		if wait || round > 2 {
			if err := retry.Sleep(ctx, bo.Next()); err != nil {
				return err
			}
		}
		if refresh || round > 2 {
			if err := c.refresh(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

// bySlot sorts pieces into one transaction per slot, by the node serving
// the slot (or importing it, for a slot that answered ASK). The
// transactions come from the scratch slab: valid until the next bySlot.
func (tx *clusterTx) bySlot(ps []piece, asks map[int]string) map[string][]*slotTx {
	t := tx.c.topo
	sc := tx.c.scratch
	sc.newRound()
	out := map[string][]*slotTx{}
	for _, p := range ps {
		slot := max(p.slot, 0)
		st, fresh := sc.slotTx(slot)
		if fresh {
			addr := t.masters[t.ownerOf(slot)]
			if a, asked := asks[slot]; asked {
				addr, st.asking = a, true
			}
			out[addr] = append(out[addr], st)
		}
		st.pieces = append(st.pieces, p)
	}
	return out
}

// build encodes a transaction: its pieces, SELECTs between pieces of
// different dbs, and its mark, into st's batch (reused, or new for a
// transaction not from the scratch slab).
func (tx *clusterTx) build(st *slotTx, upto position) (b *Batch, key string) {
	c := tx.c
	if b = st.batch; b == nil {
		b = &Batch{}
	}
	b.asking = st.asking
	if len(st.pieces) > 0 {
		b.StartDB = st.pieces[0].db
	}
	db := b.StartDB
	b.noSelect = db == 0
	for _, p := range st.pieces {
		if p.db != db {
			b.AddStrings(p.off, "SELECT", strconv.Itoa(p.db))
			db = p.db
			b.noSelect = false
		}
		if p.raw != nil {
			b.AddRaw(p.off, p.raw)
		} else {
			b.Add(p.off, p.args...)
		}
	}
	if db != 0 {
		// The connection is left in db 0, where noSelect transactions run.
		b.AddStrings(st.pieces[len(st.pieces)-1].off, "SELECT", "0")
	}
	if !tx.withMarks {
		return b, ""
	}
	c.nonce++
	mk := mark{Upto: upto, Nonce: c.nonce, Slots: st.claim}
	if st.slot == c.doneSlot() {
		mk.Done = c.resume // keep the done record this SET replaces
	}
	st.markBuf = appendMark(st.markBuf[:0], &mk)
	b.Checkpoint = st.markBuf
	return b, c.scratch.markKey(c, st.slot)
}
