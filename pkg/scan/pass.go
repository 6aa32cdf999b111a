package scan

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/checkpoint"
	"github.com/redferry/redferry/pkg/server"
)

// passStep runs one SCAN call of the pass: on the source in the copy
// phase, on the target in the prune phase. The checkpoint moves to the
// next cursor once every key of the page is in the batch, so a restart
// repeats at most the page that was in flight.
func (s *scanner) passStep(ctx context.Context) error {
	st := &s.w.state
	switch {
	case st.Phase == PhaseCopy && s.cluster:
		return s.masterStep(ctx)
	case st.Phase == PhaseCopy && st.DB < 0:
		return s.endCopy(ctx)
	case st.Phase == PhaseCopy:
		keys, next, err := s.nodes[0].c.db(st.DB).Scan(ctx, st.Cursor, "", s.scanCount()).Result()
		if err != nil {
			return fmt.Errorf("SCAN %d of db %d on the source: %w", st.Cursor, st.DB, err)
		}
		keys = s.skipOwn(st.DB, keys)
		if err := s.copyKeys(ctx, st.DB, keys); err != nil {
			return err
		}
		st.Cursor = next
		s.stats.Scanned += int64(len(keys))
		if err := s.throttle(ctx, len(keys)); err != nil {
			return err
		}
		if next != 0 {
			return nil
		}
		dbs, err := s.sourceKeys(ctx)
		if err != nil {
			return err
		}
		s.stats.Total = sumKeys(dbs)
		st.DB, st.Cursor = firstDB(s.takenDBs(dbs), st.DB+1), 0
		return nil
	case st.Phase == PhasePrune && st.DB < 0:
		return s.endPass(ctx)
	case st.Phase == PhasePrune:
		return s.pruneStep(ctx)
	}
	return fmt.Errorf("scan: checkpoint phase %q in an active pass", st.Phase)
}

// masterStep runs one SCAN call on the master of a cluster source whose
// turn it is. At the end of a master's SCAN the cluster is looked at
// again: a master that took over slots meanwhile, or restarted, is
// SCANned again.
func (s *scanner) masterStep(ctx context.Context) error {
	st := &s.w.state
	n := s.passNode()
	if n == nil {
		return s.endCopy(ctx)
	}
	keys, next, err := n.c.db(0).Scan(ctx, st.Cursor, "", s.scanCount()).Result()
	if err != nil {
		return fmt.Errorf("SCAN %d on the source master %s: %w", st.Cursor, n.Addr, err)
	}
	keys = s.skipOwn(0, keys)
	if err := s.copyKeys(ctx, 0, keys); err != nil {
		return err
	}
	st.Cursor = next
	s.stats.Scanned += int64(len(keys))
	if err := s.throttle(ctx, len(keys)); err != nil {
		return err
	}
	if next != 0 {
		return nil
	}
	if err := s.checkTopology(ctx); err != nil {
		return err
	}
	if st.Node != n.ID {
		return nil // it took over slots meanwhile, or is gone: passNode decides
	}
	in, err := server.Fetch(ctx, n.c.db(0))
	if err != nil {
		return fmt.Errorf("source master %s: %w", n.Addr, err)
	}
	if in.RunID != n.runID {
		s.log.Warn("a master of the source restarted during its SCAN: SCANning it again", zap.String("master", n.Addr))
		n.runID = in.RunID
		s.rebase(map[string]bool{n.ID: true})
		return nil
	}
	s.markDone(n.ID)
	s.log.Info("SCAN of a source master complete", zap.String("master", n.Addr), zap.String("slots", n.SlotsString()),
		zap.Int64("pass_copied", st.Copied))
	if dbs, err := s.sourceKeys(ctx); err == nil {
		s.stats.Total = sumKeys(dbs)
	}
	return nil
}

// endCopy moves from the copy phase to the prune phase, or ends the pass.
func (s *scanner) endCopy(ctx context.Context) error {
	st := &s.w.state
	if !st.Prune {
		return s.endPass(ctx)
	}
	dbs, err := keyspaceDBs(ctx, s.dst.db(0))
	if err != nil {
		return fmt.Errorf("target %s: %w", s.opt.TargetName, err)
	}
	st.Phase, st.DB, st.Cursor, st.TargetNode = PhasePrune, firstDB(dbs, 0), 0, 0
	switch {
	case s.dstCluster:
		st.DB = 0 // a cluster has db 0 only
	case s.cluster:
		// A standalone target's other dbs hold nothing of a cluster's
		// (db 0, written where db-map says).
		if to, ok := s.opt.Filter.TargetDB(0); ok {
			st.DB = to
		} else {
			st.DB = -1
		}
	}
	s.log.Info("copy phase done; pruning the target of keys the source no longer has", zap.Int("pass", st.Pass),
		zap.Int64("copied", st.Copied))
	return nil
}

func (s *scanner) endPass(ctx context.Context) error {
	st := &s.w.state
	st.Phase, st.DB, st.Cursor = PhaseDone, 0, 0
	if s.opt.Live {
		st.Phase = PhaseLive
	}
	s.active = false
	if err := s.w.flush(ctx); err != nil {
		return err
	}
	s.log.Info("pass complete", zap.Int("pass", st.Pass), zap.Int64("copied", st.Copied), zap.Int64("deleted", st.Deleted),
		zap.Int("dirty", s.dirty.len()))
	s.report()
	return nil
}

// pruneStep checks one SCAN page of the target against the source and
// deletes the keys the source does not have: deletions whose notification
// was lost (a broken link, FLUSHDB) or never sent.
func (s *scanner) pruneStep(ctx context.Context) error {
	st := &s.w.state
	if st.TargetNode >= len(s.dstNodes) {
		st.DB = -1
		return nil
	}
	// The target db holds the keys of source db src (db-map); a target db
	// no source db is written to is the target's own: left alone.
	src, ours := s.pruneSourceDB(st.DB)
	var keys []string
	var next uint64
	if ours {
		var err error
		keys, next, err = s.dstNodes[st.TargetNode].db(st.DB).Scan(ctx, st.Cursor, "", s.scanCount()).Result()
		if err != nil {
			return fmt.Errorf("SCAN %d of db %d on the target %s: %w", st.Cursor, st.DB, s.dstNodes[st.TargetNode].opts.Addr, err)
		}
	}
	keys = s.skipOwn(st.DB, keys)
	keys = slices.DeleteFunc(keys, func(k string) bool { return !s.pruneCandidate(k) })
	nodes, groups := s.byNode(keys)
	for g, n := range nodes {
		exists := make([]*redis.IntCmd, len(groups[g]))
		if _, err := n.c.db(src).Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, k := range groups[g] {
				exists[i] = p.Exists(ctx, k)
			}
			return nil
		}); err != nil {
			return fmt.Errorf("EXISTS on the source %s: %w", n.Addr, err)
		}
		for i, k := range groups[g] {
			if exists[i].Val() == 0 {
				s.deleted(src, k) // the writer maps src back to st.DB
			}
		}
	}
	st.Cursor = next
	if err := s.throttle(ctx, len(keys)); err != nil {
		return err
	}
	if next == 0 && s.dstCluster {
		st.TargetNode++
		if st.TargetNode >= len(s.dstNodes) {
			st.DB = -1
		}
	} else if next == 0 && s.cluster {
		st.DB = -1
	} else if next == 0 {
		dbs, err := keyspaceDBs(ctx, s.dst.db(0))
		if err != nil {
			return err
		}
		st.DB, st.Cursor = firstDB(dbs, st.DB+1), 0
	}
	return s.w.flushIfFull(ctx, false)
}

// skipOwn leaves out redferry's own keys: checkpoints, and the probe's.
func (s *scanner) skipOwn(db int, keys []string) []string {
	if db != 0 {
		return keys
	}
	out := keys[:0]
	for _, k := range keys {
		if k != s.opt.StateKey && !strings.HasPrefix(k, checkpoint.KeyPrefix) && !strings.HasPrefix(k, probePrefix) {
			out = append(out, k)
		}
	}
	return out
}

// throttle paces the copy under Options.Limits: keys read from the source
// since the last call count as ops, the bytes written to the target since
// then as bytes. Before a wait of more than a moment the batch is applied
// and the counts are reported, so that the target, the checkpoint and the
// status do not sit behind while the copy waits (at a low rate, for long).
func (s *scanner) throttle(ctx context.Context, keys int) error {
	written := s.w.written()
	bytes := written - s.paced
	s.paced = written
	lim := s.opt.Limits
	if lim.Ahead() > 100*time.Millisecond {
		if s.w.b.Len() > 0 {
			if err := s.w.flush(ctx); err != nil {
				return err
			}
		}
		s.progress() // the counts as they stand while the copy waits
	}
	return lim.Wait(ctx, keys, int(bytes))
}

// scanCount is the SCAN COUNT of the next page: Options.ScanCount, or a
// tenth of a second's worth of keys under a low rate, so that the pace is
// even and a rate lowered at run time takes effect within a page.
func (s *scanner) scanCount() int64 {
	n, _ := s.opt.Limits.Caps(s.opt.ScanCount, 0)
	return int64(n)
}
