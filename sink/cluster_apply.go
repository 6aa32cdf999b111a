package sink

import (
	"context"
	"encoding/json"
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
	err       error
}

func (c *Cluster) apply(ctx context.Context, b *Batch, stop bool) error {
	if b.Len() == 0 && b.Checkpoint == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	tx := &clusterTx{c: c, stop: stop, streaming: true}
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
		args, off := b.Command(i)
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
		ps, err := c.pieces(args, b.Raw(i), off, db, r)
		if err != nil {
			return err
		}
		seg = append(seg, ps...)
	}
	if err := tx.commit(ctx, seg, final); err != nil {
		return err
	}
	if tx.withMarks {
		if err := c.writeDone(ctx, final, b.Checkpoint); err != nil {
			return err
		}
		c.resume = b.Checkpoint
		if c.marks != nil && c.marks.max.less(final) {
			c.marks = nil // every command from here on is past every mark
		}
	}
	c.stats.batches.Add(1)
	return tx.err
}

// writeDone records the batch as wholly applied: its checkpoint in the
// done slot's mark (every command of that slot up to final is applied too).
func (c *Cluster) writeDone(ctx context.Context, final position, cp []byte) error {
	c.nonce++
	v, _ := json.Marshal(mark{Version: 1, Upto: final, Done: cp, Nonce: c.nonce})
	key := c.markKey(c.doneSlot())
	bo := retry.Backoff{Initial: 50 * time.Millisecond, Max: 2 * time.Second}
	deadline := time.Now().Add(4 * c.cfg.IOTimeout)
	for {
		err := c.setKey(ctx, key, v)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return fmt.Errorf("sink: writing the checkpoint to %s: %w", key, err)
		}
		c.log.Warn("cannot write the checkpoint yet: retrying", zap.Error(err))
		if err := retry.Sleep(ctx, bo.Next()); err != nil {
			return err
		}
		if err := c.refresh(ctx); err != nil {
			return err
		}
	}
}

// skipApplied drops the pieces the marks say were applied before a
// restart, and deletes a snapshot key that may be half applied before it
// is rebuilt.
func (tx *clusterTx) skipApplied(ps []piece) []piece {
	m := tx.c.marks
	if m == nil || !tx.withMarks {
		return ps
	}
	out := ps[:0:0]
	for _, p := range ps {
		slot := max(p.slot, 0) // keyless: in slot 0's transaction
		if m.covered(slot, tx.streaming, p.off) {
			continue
		}
		if p.key != nil && m.halfApplied(slot, tx.streaming, p.off) {
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
}

// commit applies a segment of the batch: rounds of transactions, each
// master's on its connection, the masters in parallel, until every piece
// is applied. upto is the position every command of the segment is at or
// below.
func (tx *clusterTx) commit(ctx context.Context, ps []piece, upto position) error {
	c := tx.c
	ps = tx.skipApplied(ps)
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
// the slot (or importing it, for a slot that answered ASK).
func (tx *clusterTx) bySlot(ps []piece, asks map[int]string) map[string][]*slotTx {
	t := tx.c.topo
	out := map[string][]*slotTx{}
	idx := map[int]*slotTx{}
	for _, p := range ps {
		slot := max(p.slot, 0)
		st, ok := idx[slot]
		if !ok {
			st = &slotTx{slot: slot}
			addr := t.masters[t.ownerOf(slot)]
			if a, asked := asks[slot]; asked {
				addr, st.asking = a, true
			}
			idx[slot] = st
			out[addr] = append(out[addr], st)
		}
		st.pieces = append(st.pieces, p)
	}
	return out
}

// build encodes a transaction: its pieces, SELECTs between pieces of
// different dbs, and its mark.
func (tx *clusterTx) build(st *slotTx, upto position) (b *Batch, key string) {
	c := tx.c
	b = &Batch{asking: st.asking}
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
	mk := mark{Version: 1, Upto: upto, Nonce: c.nonce, Slots: st.claim}
	if st.slot == c.doneSlot() {
		mk.Done = c.resume // keep the done record this SET replaces
	}
	b.Checkpoint, _ = json.Marshal(mk)
	return b, c.markKey(st.slot)
}

// txResult is what one transaction's replies said.
type txResult struct {
	res  sendResult
	lost bool  // the connection broke before its replies were read
	err  error // unreachable node (resend), or a stop
	down bool  // the node could not be reached: resend elsewhere
}

// sendAll writes every node's transactions on its connection and reads
// the replies, the nodes in parallel.
func (tx *clusterTx) sendAll(ctx context.Context, work map[string][]*slotTx, upto position) map[string][]txResult {
	c := tx.c
	type job struct {
		n    *Standalone
		keys []string
	}
	jobs := map[string]*job{}
	for addr, txs := range work {
		j := &job{n: c.node(addr)}
		for _, st := range txs {
			b, key := tx.build(st, upto)
			st.batch = b
			j.keys = append(j.keys, key)
		}
		jobs[addr] = j
	}
	out := make(map[string][]txResult, len(work))
	results := make(chan struct {
		addr string
		rs   []txResult
	}, len(work))
	for addr, txs := range work {
		go func() {
			results <- struct {
				addr string
				rs   []txResult
			}{addr, jobs[addr].n.sendPipelined(ctx, txs, jobs[addr].keys)}
		}()
	}
	for range work {
		r := <-results
		out[r.addr] = r.rs
	}
	return out
}

// sendPipelined writes the transactions at once and reads their replies.
func (s *Standalone) sendPipelined(ctx context.Context, txs []*slotTx, keys []string) []txResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]txResult, len(txs))
	if s.conn == nil {
		conn, err := dial(ctx, &s.cfg)
		if err != nil {
			for i := range out {
				out[i] = txResult{err: err, down: retryable(err) && ctx.Err() == nil}
			}
			return out
		}
		s.conn = conn
		s.stats.reconnects.Add(1)
	}
	c := s.conn
	stop := context.AfterFunc(ctx, func() { _ = c.nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	c.deadline()
	for i, st := range txs {
		c.writeTx(st.batch, keys[i])
	}
	if err := c.w.Flush(); err != nil {
		s.dropConn()
		for i := range out {
			out[i] = txResult{lost: true, err: err}
		}
		return out
	}
	for i, st := range txs {
		res, err := c.readTx(st.batch, keys[i], s.cfg.Addr)
		if err != nil {
			s.dropConn()
			for j := i; j < len(out); j++ {
				out[j] = txResult{lost: true, err: err}
			}
			return out
		}
		out[i] = txResult{res: res}
	}
	return out
}

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
		if tx.err == nil {
			e := firstTargetError(b, res.execErrs, true)
			e.Rejected = rejectedCommands(b, res.execErrs)
			tx.err = e
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
