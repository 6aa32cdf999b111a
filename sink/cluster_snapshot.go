package sink

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/retry"
)

// The snapshot into a cluster without a transaction per key.
//
// With keys spread over every slot, one MULTI/EXEC per slot is one per key:
// MULTI, the key's command, the SET of its slot's mark and EXEC, four
// commands where a replica runs one. The snapshot does not need them, for
// three reasons:
//
//   - Nothing depends on the order of two keys: each snapshot key is
//     written whole by its own commands, and no stream command is applied
//     before the snapshot is complete.
//   - Writing a key again is harmless when it is deleted first: DEL, then
//     all its commands, leaves it as the source has it whatever part of it
//     was written before.
//   - Only one key of a batch can have commands in an earlier batch (the
//     key the previous checkpoint stopped in, the carry), and only the
//     last one can continue in a later one.
//
// So a snapshot segment is applied in two steps:
//
//  1. Every key but the carry: its commands are pipelined to the master of
//     their slot, without MULTI and without marks, the masters in parallel.
//     A key any of whose commands was redirected (MOVED, ASK, TRYAGAIN,
//     CLUSTERDOWN) or rejected, or whose replies were lost, is not retried
//     this way: its order may be broken, and part of it may have landed.
//     It goes to step 2 as DEL and all its commands of the segment (all it
//     has: it is not the carry), where a rejection is dealt with exactly as
//     without this path.
//  2. The carry and those keys: as any segment, one MULTI/EXEC per slot
//     with the slot's mark (cluster_apply.go), which follows redirections,
//     migrations and failovers and tells whether a transaction whose replies
//     were lost was applied. Its marks say every key of their slot before
//     the segment's position is applied, which is true: step 1 is complete.
//
// The batch's Done is written after both, as always, and covers every slot.
//
// A restart must not write a key twice that step 1 wrote without a mark
// (a crash before Done). Before step 1 a segment writes an intent mark
// (<checkpoint key>{done tag}:sent) saying that keys up to the segment's
// position may be written without a mark; a restart deletes every snapshot
// key its marks do not cover, up to that position, before rebuilding it
// (skipApplied), as it always did with the key a checkpoint stopped in.
// The intent never goes down: a restart writes at least the highest it
// read, and writes once before its first step 1 whatever it read (a new
// full sync may have emptied the target since the marks were read). It is
// a mark of the done slot's family (found by the same SCAN), whose Upto
// is the start of the snapshot: it covers nothing.
//
// Migrations and failovers of the target during the snapshot: a key
// written in step 1 lives in its slot and moves with it, and step 1
// writes no mark, so no mark can describe data it does not hold; step 2
// and Done are what they were before this path existed. A write a
// failover loses after acknowledging it is lost here as it is with
// transactions (the new master lacks what the old one had not
// replicated); the batch's Done was never a guard against that.

// sentKey is the intent mark's key (in the done slot).
func (c *Cluster) sentKey() string { return c.markKey(c.doneSlot()) + ":sent" }

// snapshotFast reports whether a segment goes through the pipelined path:
// a snapshot batch with marks (exactly-once needs them to say what a
// restart must rebuild).
func (tx *clusterTx) snapshotFast() bool { return tx.withMarks && !tx.streaming }

// stepTwo reports whether a piece goes to step 2 from the start: the
// carry's (its key has commands in an earlier batch), or one without a key.
func (c *Cluster) stepTwo(p piece) bool {
	return p.slot < 0 || (!c.carry.Streaming && p.off == c.carry.Off)
}

// fastJob is what step 1 writes to one master.
type fastJob struct {
	addr string
	idx  []int // idx[j]: the piece of reply j; -1 for our SELECTs
	b    *Batch
	res  plainResult
}

// sendSnapshot runs step 1 for ps (already through skipApplied) and
// returns what step 2 must apply: the carry and the keys to write again.
func (tx *clusterTx) sendSnapshot(ctx context.Context, ps []piece, upto position) ([]piece, error) {
	c := tx.c
	var slow []piece
	fast := 0
	for _, p := range ps {
		if !c.stepTwo(p) {
			fast++
		}
	}
	if fast == 0 {
		return ps, nil
	}
	if err := tx.writeIntent(ctx, upto.Off); err != nil {
		return nil, err
	}
	jobs := map[string]*fastJob{}
	t := c.topo
	sc := c.scratch
	for i, p := range ps {
		if c.stepTwo(p) {
			slow = append(slow, p)
			continue
		}
		addr := t.masters[t.ownerOf(p.slot)]
		j := jobs[addr]
		if j == nil {
			j = sc.fastJob(addr)
			jobs[addr] = j
		}
		if db := j.curDB(ps); p.db != db {
			j.b.AddStrings(p.off, "SELECT", strconv.Itoa(p.db))
			j.idx = append(j.idx, -1)
		}
		if p.raw != nil {
			j.b.AddRaw(p.off, p.raw)
		} else {
			j.b.Add(p.off, p.args...)
		}
		j.idx = append(j.idx, i)
	}
	done := make(chan struct{}, len(jobs))
	for _, j := range jobs {
		if db := j.curDB(ps); db != 0 {
			j.b.AddStrings(0, "SELECT", "0")
			j.idx = append(j.idx, -1)
		}
		n := c.node(j.addr) // c.nodes is not shared with the goroutines
		go func() {
			j.res = n.sendPlain(ctx, j.b)
			done <- struct{}{}
		}()
	}
	for range jobs {
		<-done
	}
	// redo: keys to write again in step 2 (a snapshot position is one
	// key; the key's name too, for a caller that would put two there).
	type keyAt struct {
		off int64
		key string
	}
	redo := map[keyAt]bool{}
	for _, j := range jobs {
		if j.res.err != nil {
			c.log.Warn("target node unreachable or its connection lost during the snapshot: writing its keys again",
				zap.String("node", j.addr), zap.Int("replies", j.res.got), zap.Int("commands", j.b.Len()), zap.Error(j.res.err))
		}
		for r, pi := range j.idx {
			if r >= j.res.got {
				if pi >= 0 {
					redo[keyAt{ps[pi].off, string(ps[pi].key)}] = true
				}
				continue
			}
			msg, failed := j.res.errs[r]
			if pi < 0 {
				if failed {
					return nil, fmt.Errorf("sink: target master %s refused SELECT: %s", j.addr, msg)
				}
				continue
			}
			if !failed {
				continue
			}
			// A redirection, or a rejection: step 2 writes the key again
			// and deals with the reply as a transaction's (a rejection at
			// queue time stops before anything is applied, one inside EXEC
			// is recorded: cluster_outcome.go), so that which of the two
			// happened to it is the same with or without this path.
			redo[keyAt{ps[pi].off, string(ps[pi].key)}] = true
		}
	}
	if len(redo) == 0 {
		c.stats.applied.Add(int64(fast))
		return slow, nil
	}
	c.log.Info("the target cluster redirected or refused part of a snapshot batch, or a connection broke: writing those keys again, each deleted first, in transactions",
		zap.Int("keys", len(redo)))
	deleted := map[keyAt]bool{}
	for _, p := range ps {
		k := keyAt{p.off, string(p.key)}
		if c.stepTwo(p) || !redo[k] {
			continue
		}
		fast-- // counted when step 2 applies it
		if !deleted[k] && p.key != nil {
			deleted[k] = true
			slow = append(slow, piece{args: [][]byte{[]byte("DEL"), p.key}, off: p.off, db: p.db, slot: p.slot, key: p.key})
		}
		slow = append(slow, p)
	}
	c.stats.applied.Add(int64(fast))
	return slow, nil
}

// curDB is the db the job's connection is in after what it holds so far.
func (j *fastJob) curDB(ps []piece) int {
	for k := len(j.idx) - 1; k >= 0; k-- {
		if j.idx[k] >= 0 {
			return ps[j.idx[k]].db
		}
	}
	return 0
}

// writeIntent records, before step 1 writes anything, that snapshot keys
// up to upto may be written without a mark. It never lowers what a
// previous run recorded, and writes at least once after the marks are read
// (the target may have been emptied since).
func (tx *clusterTx) writeIntent(ctx context.Context, upto int64) error {
	c := tx.c
	if upto <= c.sent {
		return nil
	}
	sent := max(upto, c.sentRead) // never below what an earlier run may have sent
	c.nonce++
	v := appendMark(nil, &mark{Nonce: c.nonce, Sent: sent})
	if err := c.writeMark(ctx, c.sentKey(), v); err != nil {
		return err
	}
	c.sent = sent
	return nil
}

// writeMark SETs a mark outside a transaction, retrying while the cluster
// settles.
func (c *Cluster) writeMark(ctx context.Context, key string, v []byte) error {
	bo := retry.Backoff{Initial: 50 * time.Millisecond, Max: 2 * time.Second}
	deadline := time.Now().Add(4 * c.cfg.IOTimeout)
	for {
		err := c.setKey(ctx, key, v)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("sink: writing the checkpoint mark %s: %w", key, errors.Join(ctx.Err(), err))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("sink: writing the checkpoint mark %s: %w", key, err)
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

// plainResult is what a pipeline of commands without MULTI answered.
type plainResult struct {
	got  int            // replies read; the rest are unknown
	errs map[int]string // error replies by command
	err  error          // why fewer than all replies were read
}

// sendPlain writes b's commands at once, without a transaction, and reads
// their replies.
func (s *Standalone) sendPlain(ctx context.Context, b *Batch) plainResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		conn, err := dial(ctx, &s.cfg)
		if err != nil {
			return plainResult{err: err}
		}
		s.conn = conn
		s.stats.reconnects.Add(1)
	}
	c := s.conn
	stop := context.AfterFunc(ctx, func() { _ = c.nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	c.writeDeadline()
	_, _ = c.w.Write(b.buf)
	if err := c.w.Flush(); err != nil {
		s.dropConn()
		return plainResult{err: err}
	}
	var res plainResult
	for ; res.got < b.Len(); res.got++ {
		c.readDeadline()
		r, err := c.rr.read()
		if err != nil {
			s.dropConn()
			res.err = err
			return res
		}
		if err := checkNoAuth(r, s.cfg.Addr); err != nil {
			s.dropConn()
			res.err = err
			return res
		}
		if r.isError() {
			if res.errs == nil {
				res.errs = map[int]string{}
			}
			res.errs[res.got] = string(r.Line)
		}
	}
	return res
}
