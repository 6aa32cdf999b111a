package scan

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/retry"
	"github.com/redferry/redferry/pkg/server"
	"github.com/redferry/redferry/sink"
	"github.com/redferry/redferry/transform"
)

// scanner is one Run: a single goroutine reads the source and writes the
// target (so the target sees the reads in their order: the last read of a
// key is the last write), a second one receives notifications.
type scanner struct {
	opt     Options
	log     *zap.Logger
	src     *clients // the source as given (for a cluster: the node named)
	dst     *clients // the target as given
	srcInfo server.Info
	st      target
	w       *writer
	dirty   *dirtySet
	streams *streamWatch
	stats   Stats
	events  atomic.Int64
	// recopy: the keys being copied are copied again (changed): one the
	// filter now leaves out by type may be on the target from before.
	recopy bool

	// nodes are the servers SCANned: the source, or the masters of a
	// cluster source (cluster), with owners routing keys by slot.
	nodes   []*srcNode
	cluster bool
	owners  []int
	redo    map[string]bool // masters to SCAN again once the pass in progress ends (a topology change)
	subCtx  context.Context // the notification receivers' (set once subscribed)
	// dstNodes are the target's servers a prune SCANs: the target, or the
	// masters of a cluster target (dstCluster).
	dstNodes   []*clients
	dstCluster bool

	notify       bool // notifications are received
	memoryUsage  bool // the source answers MEMORY USAGE
	dump         bool // the source answers DUMP
	fingerprints bool // the source answers XINFO STREAM FULL
	active       bool // a pass is running
	functions    bool // the function libraries are to be copied
	lastPoll     time.Time
	lastStreams  time.Time
	swept        bool // without Live: the final sweep of the watched streams ran
	lastLog      time.Time
	paced        int64 // the writer's bytes already told to the limits (throttle)
}

// Run copies the source into the target with SCAN (see the package doc)
// and, with Options.Live, keeps it current until ctx ends. It returns the
// counts; ctx ending is a clean stop (nil error).
func Run(ctx context.Context, opt Options) (Stats, error) {
	opt.withDefaults()
	if err := opt.validate(); err != nil {
		return Stats{}, fmt.Errorf("scan: %w", err)
	}
	s := &scanner{opt: opt, log: opt.Logger.With(zap.String("stage", "scan")), src: newClients(opt.Source),
		dst: newClients(opt.TargetCtl), memoryUsage: true, dump: true, fingerprints: true,
		dirty:   newDirtySet(opt.MaxDirty, opt.Coalesce, opt.BigKeyCoalesce),
		streams: newStreamWatch(opt.MaxStreams, opt.StreamPoll)}
	defer s.src.close()
	defer s.dst.close()
	defer s.closeNodes()
	defer s.closeDstNodes()
	err := s.run(ctx)
	s.stats.Dirty = s.dirty.len()
	s.stats.Events = s.events.Load()
	s.stats.PassCopied = s.w.stateCopied()
	if s.w != nil {
		s.stats.Pass, s.stats.Phase = s.w.state.Pass, s.w.state.Phase
	}
	if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		err = nil
	}
	return s.stats, err
}

func (w *writer) stateCopied() int64 {
	if w == nil {
		return 0
	}
	return w.state.Copied
}

func (s *scanner) run(ctx context.Context) error {
	var err error
	if s.srcInfo, err = server.Fetch(ctx, s.src.db(0)); err != nil {
		return fmt.Errorf("source %s: %w", s.opt.SourceName, err)
	}
	dstInfo, err := server.Fetch(ctx, s.dst.db(0))
	if err != nil {
		return fmt.Errorf("target %s: %w", s.opt.TargetName, err)
	}
	if err := s.discoverSource(ctx); err != nil {
		return err
	}
	if err := s.openTarget(ctx, dstInfo); err != nil {
		return err
	}
	defer s.st.Close()
	s.w = newWriter(s.st, s.st.Server(), &s.opt)
	s.w.partial = s.dstCluster

	if err := s.start(ctx, dstInfo); err != nil {
		return err
	}
	stop, err := s.startNotifications(ctx)
	defer stop()
	if err != nil {
		return err
	}
	if !s.notify && !s.opt.Merge {
		s.w.state.Prune = true
	}
	if _, _, err := s.pollStats(ctx); err != nil {
		s.log.Warn("the source refuses INFO commandstats: FLUSHDB, FLUSHALL and SWAPDB on it go unnoticed", zap.Error(err))
	}
	err = s.loop(ctx)
	stop()
	// Keep what was done: the last batch and the checkpoint.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if ferr := s.w.flush(fctx); ferr != nil && err == nil {
		err = ferr
	}
	return err
}

// startNotifications turns on keyspace notifications on every source
// server (or checks them) and subscribes to them. Without them, a run
// without Live copies all the same; Live stops. stop unsubscribes and puts
// the settings back.
func (s *scanner) startNotifications(ctx context.Context) (stop func(), err error) {
	subCtx, cancel := context.WithCancel(ctx)
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			for _, n := range s.nodes {
				s.stopNotify(n)
			}
		})
	}
	for _, n := range s.nodes {
		if err = s.enableNotify(ctx, n); err != nil {
			break
		}
	}
	switch {
	case err != nil && s.opt.Live:
		return stop, err
	case err != nil:
		stop()
		s.log.Warn("copying without keyspace notifications: keys changed during the copy are not copied again, keys deleted during it are left on the target until the pass ends with a prune",
			zap.Error(err))
		return stop, nil
	}
	s.notify, s.subCtx = true, subCtx
	for _, n := range s.nodes {
		if err := s.subscribe(subCtx, n); err != nil {
			return stop, err
		}
	}
	return stop, nil
}

// enableNotify makes n send the notifications scan needs, remembering
// (also in the checkpoint, for a run after a crash) the setting to put back.
func (s *scanner) enableNotify(ctx context.Context, n *srcNode) error {
	orig, err := enableNotifications(ctx, n.c.db(0), ownTag(n))
	if err != nil {
		if s.cluster {
			return fmt.Errorf("source master %s: %w", n.Addr, err)
		}
		return err
	}
	if orig == nil {
		orig = s.savedNotify(n) // changed by a run that did not end cleanly
	}
	if orig != nil {
		n.orig = orig
		s.saveNotify(n, orig)
		s.log.Info("turned on keyspace notifications on the source for the copy; the setting is put back on exit",
			zap.String("server", n.Addr), zap.String("was", *orig))
	}
	return nil
}

func (s *scanner) savedNotify(n *srcNode) *string {
	st := &s.w.state
	if !s.cluster {
		return st.NotifyOriginal
	}
	if v, ok := st.NotifyOriginals[n.Addr]; ok {
		return &v
	}
	return nil
}

func (s *scanner) saveNotify(n *srcNode, orig *string) {
	st := &s.w.state
	switch {
	case !s.cluster:
		st.NotifyOriginal = orig
	case orig == nil:
		delete(st.NotifyOriginals, n.Addr)
		if len(st.NotifyOriginals) == 0 {
			st.NotifyOriginals = nil
		}
	default:
		if st.NotifyOriginals == nil {
			st.NotifyOriginals = map[string]string{}
		}
		st.NotifyOriginals[n.Addr] = *orig
	}
}

// stopNotify stops n's receiver and puts its setting back.
func (s *scanner) stopNotify(n *srcNode) {
	if n.unsub != nil {
		n.unsub()
		n.unsub, n.sub = nil, nil
	}
	if n.orig != nil && restoreNotifications(n.c.db(0), *n.orig, s.log.With(zap.String("server", n.Addr))) {
		n.orig = nil
		s.saveNotify(n, nil) // put back: nothing for a later run to undo
	}
}

// subscribe starts n's notification receiver and waits until it is
// subscribed: whatever changes from then on is known.
func (s *scanner) subscribe(ctx context.Context, n *srcNode) error {
	sub := &subscriber{c: n.c.db(0), dirty: s.dirty, log: s.log.With(zap.String("server", n.Addr)), ready: make(chan struct{}),
		count: func() { s.events.Add(1) }}
	subCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sub.run(subCtx)
	}()
	n.sub, n.unsub = sub, func() { cancel(); <-done }
	select {
	case <-sub.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(s.opt.Source.DialTimeout + 10*time.Second):
		return fmt.Errorf("source %s: no confirmation of PSUBSCRIBE %s: check that the source allows PSUBSCRIBE for this user", n.Addr, keyeventPattern)
	}
}

// start reads the checkpoint and decides where the first pass begins.
func (s *scanner) start(ctx context.Context, dstInfo server.Info) error {
	raw, err := s.st.LoadCheckpoint(ctx)
	if err != nil {
		return fmt.Errorf("target %s: reading the scan checkpoint %s: %w", s.opt.TargetName, s.opt.StateKey, err)
	}
	if err := s.checkDBs(ctx); err != nil {
		return err
	}
	if raw == nil {
		if err := s.prepareTarget(ctx, dstInfo); err != nil {
			return err
		}
		s.w.state = State{RunID: s.srcInfo.RunID}
		return s.beginPass(ctx, 1, false, "", nil)
	}
	st, err := ParseState(raw)
	if err != nil {
		return fmt.Errorf("target %s, key %s: %w", s.opt.TargetName, s.opt.StateKey, err)
	}
	s.w.state = st
	s.w.mark()
	switch {
	case s.cluster != (len(st.Masters) > 0):
		return s.beginPass(ctx, st.Pass+1, !s.opt.Merge,
			"the checkpoint is of another kind of source (a cluster and a standalone server): its SCAN cursor means nothing here", nil)
	case !s.cluster && st.RunID != s.srcInfo.RunID:
		return s.beginPass(ctx, st.Pass+1, !s.opt.Merge,
			"the source is another server process than the checkpoint's (restarted, or failed over): its SCAN cursor means nothing here", nil)
	case st.Phase == PhaseCopy || st.Phase == PhasePrune:
		s.active, s.functions = true, true
		if s.cluster {
			s.resumeMasters()
		}
		s.log.Info("resuming the pass at the checkpoint's cursor", zap.Int("pass", st.Pass), zap.String("phase", st.Phase),
			zap.Int("db", st.DB), zap.Uint64("cursor", st.Cursor), zap.String("master", st.Node), zap.Int64("copied_before", st.Copied))
		if !s.opt.Merge {
			s.w.state.Prune = true // keys deleted while redferry was down
		}
		if s.opt.Live {
			s.dirty.needRescan("events were lost while redferry was not running")
		}
		dbs, err := s.sourceKeys(ctx)
		if err != nil {
			return err
		}
		s.stats.Total = sumKeys(dbs)
		return nil
	}
	return s.beginPass(ctx, st.Pass+1, !s.opt.Merge, "a previous pass is complete: this one brings the target up to date", nil)
}

// checkDBs refuses a cluster target for a source with keys in dbs other
// than 0: a cluster has db 0 only.
func (s *scanner) checkDBs(ctx context.Context) error {
	if !s.dstCluster {
		return nil
	}
	dbs, err := s.sourceKeys(ctx)
	if err != nil {
		return err
	}
	others := s.clusterRefused(dbs)
	if len(others) == 0 {
		return nil
	}
	return fmt.Errorf("the source %s holds keys in db %v, which go to a db other than 0, and the target %s is a cluster: %w; "+
		"map those dbs to 0 (db-map), leave them out (filter-dbs), move those keys to db 0 on the source, "+
		"or copy into a standalone target", s.opt.SourceName, others, s.opt.TargetName, errClusterDB)
}

// prepareTarget applies flush-target and merge to a target that holds keys.
func (s *scanner) prepareTarget(ctx context.Context, dstInfo server.Info) error {
	n := dstInfo.Keys()
	if s.dstCluster {
		n = 0
		for _, c := range s.dstNodes {
			in, err := server.Fetch(ctx, c.db(0))
			if err != nil {
				return fmt.Errorf("target master %s: %w", c.opts.Addr, err)
			}
			n += in.Keys()
		}
	}
	switch {
	case n == 0 || s.opt.Merge:
		return nil
	case s.opt.FlushTarget:
		for _, c := range s.dstNodes {
			if err := c.db(0).FlushAll(ctx).Err(); err != nil {
				return fmt.Errorf("FLUSHALL on the target %s: %w", c.opts.Addr, err)
			}
		}
		s.log.Info("emptied the target (flush-target)", zap.Int64("keys", n))
		return nil
	}
	return fmt.Errorf("the target %s holds %d keys: give --flush-target to empty it first, or --merge to keep its keys (same-named keys are replaced)",
		s.opt.TargetName, n)
}

// beginPass starts pass n at the first db of the source; only, when not
// nil, names the masters of a cluster source to SCAN (a topology change).
func (s *scanner) beginPass(ctx context.Context, n int, prune bool, why string, only map[string]bool) error {
	dbs, err := s.sourceKeys(ctx)
	if err != nil {
		return err
	}
	st := &s.w.state
	st.Pass, st.Phase, st.Cursor, st.Copied, st.Deleted, st.Prune = n, PhaseCopy, 0, 0, 0, prune
	st.RunID = s.srcInfo.RunID
	st.DB = firstDB(s.takenDBs(dbs), 0)
	st.Masters, st.Node, st.TargetNode = nil, "", 0
	if s.cluster {
		st.Masters, st.DB = masterStates(s.nodes, only), 0
	}
	s.w.mark()
	s.active, s.functions = true, true
	s.stats.Pass = n
	s.stats.Total = sumKeys(dbs)
	if why != "" {
		s.log.Info("starting a pass over the source", zap.Int("pass", n), zap.Bool("prune", prune), zap.String("why", why))
	} else {
		s.log.Info("starting the copy", zap.Int("pass", n), zap.Int64("keys", sumKeys(dbs)), zap.Bool("live", s.opt.Live))
	}
	return nil
}

// firstDB returns the lowest db >= from holding keys, -1 if none.
func firstDB(dbs map[int]int64, from int) int {
	best := -1
	for db, n := range dbs {
		if n > 0 && db >= from && (best < 0 || db < best) {
			best = db
		}
	}
	return best
}

func sumKeys(dbs map[int]int64) int64 {
	var n int64
	for _, k := range dbs {
		n += k
	}
	return n
}

// loop runs passes and copies changed keys until done (without Live) or
// until ctx ends.
func (s *scanner) loop(ctx context.Context) error {
	extraPasses := 0
	settleStart := time.Time{}
	bo := retry.Backoff{Initial: 200 * time.Millisecond, Max: 5 * time.Second}
	failures := 0
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := s.tick(ctx)
		if s.w.rewound {
			s.w.rewound = false
			s.active = s.w.state.Phase == PhaseCopy || s.w.state.Phase == PhasePrune
			if s.cluster && s.w.state.Phase == PhaseCopy {
				s.rebase(grown(s.w.state.Masters, s.nodes)) // the masters as they are now, not as at the checkpoint
			}
		}
		if err != nil {
			if fatal(err) || ctx.Err() != nil {
				return err
			}
			if s.cluster {
				// A master that fails may be failing over: its successor is
				// found here (the periodic check is not reached while every
				// step fails).
				if terr := s.checkTopology(ctx); terr != nil {
					s.log.Warn("reading the source cluster's masters failed", zap.Error(terr))
				}
			}
			failures++
			if failures > 20 {
				if s.cluster || s.dstCluster {
					return fmt.Errorf("scan: giving up after %d failed attempts: %w; if a cluster's slots are moving or a failover runs, "+
						"run redferry scan again once it is over: it continues from its checkpoint", failures, err)
				}
				return fmt.Errorf("scan: giving up after %d failed attempts: %w", failures, err)
			}
			wait := bo.Next()
			s.log.Warn("a step of the copy failed: retrying", zap.Error(err), zap.Duration("backoff", wait))
			if err := retry.Sleep(ctx, wait); err != nil {
				return err
			}
			continue
		}
		failures = 0
		bo.Reset()
		if s.active {
			continue
		}
		if len(s.redo) > 0 {
			s.stats.Rescans++
			settleStart, s.swept = time.Time{}, false
			only := s.redo
			s.redo = nil
			if err := s.beginPass(ctx, s.w.state.Pass+1, !s.opt.Merge, "the source cluster's masters changed: the masters that took over slots are SCANned again", only); err != nil {
				return err
			}
			continue
		}
		if why := s.dirty.takeRescan(); why != "" {
			if !s.opt.Live && extraPasses >= 2 {
				s.log.Warn("not starting another pass: two extra passes already ran; run redferry scan again, or use --live", zap.String("why", why))
			} else {
				extraPasses++
				s.stats.Rescans++
				settleStart, s.swept = time.Time{}, false
				if err := s.beginPass(ctx, s.w.state.Pass+1, !s.opt.Merge, why, nil); err != nil {
					return err
				}
				continue
			}
		}
		if !s.opt.Live {
			if settleStart.IsZero() {
				settleStart = time.Now()
			}
			n := s.dirty.len()
			if s.linkDown() {
				n++ // events are being lost: not done until the link is back and a pass ran
			}
			if n == 0 && !s.swept && s.notify {
				// Group changes send no notification: look at every
				// watched stream once more before stopping.
				s.swept = true
				if err := s.pollStreams(ctx, s.streams.len()); err != nil {
					return err
				}
				continue
			}
			if n == 0 {
				// A FLUSHDB just before the end shows only in commandstats.
				if s.cluster {
					if err := s.checkTopology(ctx); err != nil {
						return err
					}
					if len(s.redo) > 0 {
						continue
					}
				}
				flushed, _, err := s.pollStats(ctx)
				if err != nil || !flushed || !s.notify {
					return nil
				}
				s.dirty.needRescan("FLUSHDB, FLUSHALL or SWAPDB ran on the source")
				continue
			}
			if time.Since(settleStart) > s.opt.SettleTimeout {
				s.log.Warn("keys still change on the source: stopping all the same; run with --live to keep the target current",
					zap.Int("keys_still_changing", n))
				return nil
			}
		}
		if err := s.idle(ctx); err != nil {
			return err
		}
	}
}

// fatal reports errors that retrying cannot cure: the target's refusals
// and data it cannot hold.
func fatal(err error) bool {
	var te *sink.TargetError
	return errors.As(err, &te) || errors.Is(err, transform.ErrUnsupported) || errors.Is(err, sink.ErrAuth) ||
		errors.Is(err, ErrNotifications) || errors.Is(err, errPayload) || errors.Is(err, errClusterDB)
}

// tick does one step: a page of the pass, the keys due to be copied
// again, and the periodic checks.
func (s *scanner) tick(ctx context.Context) error {
	if s.active {
		if err := s.passStep(ctx); err != nil {
			return err
		}
	}
	if err := s.copyDirty(ctx); err != nil {
		return err
	}
	now := time.Now()
	if now.Sub(s.lastPoll) >= time.Second {
		s.lastPoll = now
		if s.cluster {
			if err := s.checkTopology(ctx); err != nil {
				return err
			}
		}
		flushed, functions, err := s.pollStats(ctx)
		if err == nil && flushed && (s.notify || s.opt.Live) {
			s.log.Warn("FLUSHDB, FLUSHALL or SWAPDB ran on the source (they send no keyspace notification): a new pass follows")
			s.dirty.needRescan("FLUSHDB, FLUSHALL or SWAPDB ran on the source")
		}
		s.functions = s.functions || functions
		if s.w.b.Len() > 0 { // keep the target and the checkpoint at most a second behind
			if err := s.w.flush(ctx); err != nil {
				return err
			}
		}
	}
	if s.functions {
		if err := s.copyFunctions(ctx); err != nil {
			return err
		}
	}
	if s.notify && now.Sub(s.lastStreams) >= time.Second {
		s.lastStreams = now
		if err := s.pollStreams(ctx, s.opt.StreamPoll); err != nil {
			return err
		}
	}
	if now.Sub(s.lastLog) >= 10*time.Second {
		if dbs, err := s.sourceKeys(ctx); err == nil {
			s.stats.Total = sumKeys(dbs)
		}
		s.report()
	}
	s.progress()
	return nil
}

// report logs the counts (every 10 s, and at the end of a pass).
func (s *scanner) report() {
	s.lastLog = time.Now()
	s.progress()
	st := s.w.state
	s.log.Info("scan progress", zap.Int("pass", st.Pass), zap.String("phase", st.Phase), zap.Int("db", st.DB),
		zap.Int64("pass_copied", st.Copied), zap.Int64("copied", s.stats.Copied), zap.Int64("big", s.stats.Big),
		zap.Int64("deleted", s.stats.Deleted), zap.Int64("events", s.stats.Events), zap.Int("dirty", s.stats.Dirty),
		zap.Int64("source_keys", s.stats.Total))
}

// progress brings the counts up to date and hands them to Options.Progress.
func (s *scanner) progress() {
	s.stats.Pass = s.w.state.Pass // also after a resume, which starts no pass
	s.stats.Events = s.events.Load()
	s.stats.Dirty = s.dirty.len()
	s.stats.PassCopied = s.w.state.Copied
	s.stats.Phase = s.w.state.Phase
	s.stats.Master = ""
	if s.cluster && s.active && s.w.state.Phase == PhaseCopy {
		for _, n := range s.nodes {
			if n.ID == s.w.state.Node {
				s.stats.Master = n.Addr
			}
		}
	}
	if s.opt.Progress != nil {
		s.opt.Progress(s.stats)
	}
}

// idle applies what is pending and waits for the next due key, an event,
// the next periodic check, or ctx.
func (s *scanner) idle(ctx context.Context) error {
	if s.w.b.Len() > 0 {
		if err := s.w.flush(ctx); err != nil {
			return err
		}
	}
	wait := time.Second - time.Since(s.lastPoll)
	if next := s.dirty.next(); !next.IsZero() {
		wait = min(wait, time.Until(next))
	}
	if wait <= 0 {
		return nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
	case <-s.dirty.wake:
	}
	return nil
}

// copyDirty copies the keys whose coalescing delay is over.
func (s *scanner) copyDirty(ctx context.Context) error {
	n, _ := s.opt.Limits.Caps(1000, 0)
	keys := s.dirty.due(time.Now(), n)
	if len(keys) == 0 {
		return nil
	}
	byDB := map[int][]string{}
	for _, k := range keys {
		byDB[k.db] = append(byDB[k.db], k.key)
	}
	dbs := make([]int, 0, len(byDB))
	for db := range byDB {
		dbs = append(dbs, db)
	}
	sort.Ints(dbs)
	s.recopy = true
	defer func() { s.recopy = false }()
	for i, db := range dbs {
		if err := s.copyKeys(ctx, db, byDB[db]); err != nil {
			// Put them back: they are copied once the source answers again.
			for _, db := range dbs[i:] {
				for _, k := range byDB[db] {
					s.dirty.mark(db, k, time.Now())
				}
			}
			return err
		}
	}
	if err := s.throttle(ctx, len(keys)); err != nil {
		return err
	}
	if !s.active && s.w.b.Len() > 0 {
		return s.w.flush(ctx) // live: apply at once
	}
	return nil
}

// pollStreams polls up to n watched streams and marks those whose
// consumer groups changed.
func (s *scanner) pollStreams(ctx context.Context, n int) error {
	changed, err := s.streams.poll(ctx, func(k dbKey) *redis.Client { return s.nodeOf(k.key).c.db(k.db) }, s.streams.batch(n))
	if err != nil {
		return fmt.Errorf("polling streams on the source: %w", err)
	}
	now := time.Now()
	for _, k := range changed {
		s.dirty.mark(k.db, k.key, now)
	}
	return nil
}
