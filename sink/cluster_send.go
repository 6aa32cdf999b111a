package sink

import (
	"context"
	"time"
)

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
	c.writeDeadline()
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
