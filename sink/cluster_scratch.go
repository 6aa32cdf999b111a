package sink

import "github.com/redferry/redferry/pkg/server"

// txScratch holds what applying a batch into a cluster reuses from batch
// to batch. Keys spread over every slot make nearly every command of a
// batch its own transaction: allocating a Batch, a mark and a map entry
// for each one cost redferry more CPU (and GC) than the rest of the sync.
// One batch is applied at a time (Cluster.mu), and a round's transactions
// are done with before the next round is sorted (commit copies what must
// be sent again), so the same slotTxs serve every round.
type txScratch struct {
	txs  []*slotTx // the slab; txs[:used] are this round's
	used int
	// at[s]: 1 + the index in txs of slot s's transaction this round, valid
	// while round[s] == cur (no clearing of 16384 entries per round).
	at    [server.SlotCount]int32
	round [server.SlotCount]uint32
	cur   uint32
	// markKeys: each slot's mark key, made on first use.
	markKeys [server.SlotCount]string
	// fast: the snapshot's pipelines by master (cluster_snapshot.go).
	fast map[string]*fastJob
}

// fastJob returns addr's snapshot pipeline, emptied.
func (s *txScratch) fastJob(addr string) *fastJob {
	if s.fast == nil {
		s.fast = map[string]*fastJob{}
	}
	j := s.fast[addr]
	if j == nil || cap(j.b.buf) > reuseLimit {
		j = &fastJob{addr: addr, b: &Batch{}}
		s.fast[addr] = j
	}
	j.b.Reset()
	j.idx = j.idx[:0]
	j.res = plainResult{}
	return j
}

// reuseLimit: a transaction's buffer grown past this (a big value) is let
// go rather than kept for the next batch.
const reuseLimit = 1 << 20

// newRound forgets the previous round's transactions.
func (s *txScratch) newRound() {
	s.used = 0
	s.cur++
	if s.cur == 0 { // wrapped: every stale stamp could look current
		s.round = [server.SlotCount]uint32{}
		s.cur = 1
	}
}

// slotTx returns slot's transaction of this round and whether it is new
// (empty, to be filled in by the caller).
func (s *txScratch) slotTx(slot int) (*slotTx, bool) {
	if s.round[slot] == s.cur {
		return s.txs[s.at[slot]-1], false
	}
	if s.used == len(s.txs) {
		s.txs = append(s.txs, &slotTx{batch: &Batch{}})
	}
	st := s.txs[s.used]
	s.used++
	s.round[slot], s.at[slot] = s.cur, int32(s.used)
	st.reset(slot)
	return st, true
}

// reset empties a reused transaction for slot, dropping what would keep
// an earlier batch's data alive.
func (st *slotTx) reset(slot int) {
	clear(st.pieces)
	*st = slotTx{slot: slot, pieces: st.pieces[:0], batch: st.batch, markBuf: st.markBuf[:0]}
	if st.batch == nil || cap(st.batch.buf) > reuseLimit {
		st.batch = &Batch{}
	} else {
		st.batch.Reset()
	}
}

// markKey is slot's mark key, cached.
func (s *txScratch) markKey(c *Cluster, slot int) string {
	if k := s.markKeys[slot]; k != "" {
		return k
	}
	s.markKeys[slot] = c.markKey(slot)
	return s.markKeys[slot]
}
