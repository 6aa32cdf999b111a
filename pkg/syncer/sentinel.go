package syncer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/retry"
	"github.com/redferry/redferry/pkg/sentinel"
	"github.com/redferry/redferry/pkg/server"
	"github.com/redferry/redferry/protocol"
	"github.com/redferry/redferry/sink"
)

// Sentinel-managed sides (redis+sentinel:// URLs). The source link asks
// the sentinels for the master at every connection and drops the link when
// they name a new one, then continues with PSYNC on it: a promoted replica
// accepts the old replication id. The target is written to one master per
// run: when the sentinels name a new one, the run ends and the next starts
// from the checkpoint the new master holds (it came with the data, in the
// same transactions), so what the old master took after the promotion and
// lost is applied again, and nothing twice.

// errTargetFailover ends a run whose target master is no longer the master.
var errTargetFailover = errors.New("the target failed over to another master")

// sentinels holds the resolvers of the sentinel-managed sides (nil for a
// plain server) and the target master the current run writes to.
type sentinels struct {
	source, target *sentinel.Resolver

	// sourceSwitches counts the source links closed because the sentinels
	// named a new master.
	sourceSwitches atomic.Int64

	mu         sync.Mutex
	targetAddr string // "" until the run's first connection binds it
	failovers  retry.Backoff
	lastSwitch time.Time
}

func newSentinels(opt Options, log *zap.Logger) *sentinels {
	sn := &sentinels{failovers: retry.Backoff{Initial: 200 * time.Millisecond, Max: 5 * time.Second}}
	if c := opt.Source.Sentinel; c != nil {
		sn.source = sentinel.NewResolver(*c, log.With(zap.String("side", "source")))
	}
	if c := opt.Target.Sentinel; c != nil {
		sn.target = sentinel.NewResolver(*c, log.With(zap.String("side", "target")))
	}
	return sn
}

// watch follows the sentinels of both sides until the returned stop.
func (sn *sentinels) watch(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, r := range []*sentinel.Resolver{sn.source, sn.target} {
		if r != nil {
			wg.Add(1)
			go func() { defer wg.Done(); r.Watch(ctx) }()
		}
	}
	return func() { cancel(); wg.Wait() }
}

// sourceAddr is the source to connect the link to now, and a channel closed
// when the sentinels name another master (nil for a plain server: never).
func (s *Syncer) sourceAddr(ctx context.Context) (string, <-chan struct{}, error) {
	r := s.sentinels.source
	if r == nil {
		return s.opt.Source.Addr, nil, nil
	}
	addr, err := r.Master(ctx)
	if err != nil {
		return "", nil, fmt.Errorf("finding the source master %s: %w", r.Config(), err)
	}
	cur, changed := r.Current()
	if cur != addr { // changed between the two calls: closed already
		ch := make(chan struct{})
		close(ch)
		return addr, ch, nil
	}
	return addr, changed, nil
}

// sleepUnlessSwitched waits d before the source link reconnects, or less
// when the sentinels name a new source master meanwhile: a master that died
// is replaced within seconds, and the backoff may have grown past that.
func (s *Syncer) sleepUnlessSwitched(ctx context.Context, d time.Duration) error {
	r := s.sentinels.source
	if r == nil {
		return retry.Sleep(ctx, d)
	}
	_, changed := r.Current()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
	case <-changed:
	}
	return nil
}

// closeOnSwitch closes the link when changed is closed, until stop, and
// counts it in sourceSwitches.
func (sn *sentinels) closeOnSwitch(changed <-chan struct{}, link *protocol.Link, log *zap.Logger) (stop func()) {
	if changed == nil {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-changed:
			log.Info("the sentinels name a new source master: reconnecting to continue on it")
			sn.sourceSwitches.Add(1)
			link.Close()
		case <-done:
		}
	}()
	return func() { close(done) }
}

// resolveTarget is the sink's Config.Resolve for a sentinel-managed
// target: the master the sentinels name, bound to the run; another one
// than the run's is sink.ErrTargetMoved.
func (s *Syncer) resolveTarget(ctx context.Context) (string, error) {
	sn := s.sentinels
	addr, err := sn.target.Master(ctx)
	if err != nil {
		return "", err
	}
	sn.mu.Lock()
	defer sn.mu.Unlock()
	switch sn.targetAddr {
	case "":
		sn.targetAddr = addr
		s.log.Info("writing to the target master the sentinels name", zap.String("master", addr))
		return addr, nil
	case addr:
		return addr, nil
	}
	return "", fmt.Errorf("%w: %s is no longer the master, the sentinels name %s", sink.ErrTargetMoved, sn.targetAddr, addr)
}

// watchTargetMaster ends the run (cancel with errTargetFailover) when the
// sentinels name another target master than the one it writes to.
func (s *Syncer) watchTargetMaster(ctx context.Context, cancel context.CancelCauseFunc) {
	sn := s.sentinels
	if sn.target == nil {
		return
	}
	for {
		cur, changed := sn.target.Current()
		sn.mu.Lock()
		bound := sn.targetAddr
		sn.mu.Unlock()
		if cur != "" && bound != "" && cur != bound {
			cancel(fmt.Errorf("%w: %s is no longer the master, the sentinels name %s", errTargetFailover, bound, cur))
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}

// targetFailedOver says whether err ended a run because the target master
// changed: the sentinels said so, or the old master, demoted, refused a
// write as a replica (READONLY).
func (s *Syncer) targetFailedOver(err error) bool {
	if s.sentinels.target == nil {
		return false
	}
	if errors.Is(err, errTargetFailover) || errors.Is(err, sink.ErrTargetMoved) {
		return true
	}
	var te *sink.TargetError
	return errors.As(err, &te) && !te.Applied && strings.HasPrefix(te.Message, "READONLY")
}

// followTargetFailover prepares the next run after a target failover: the
// connections to the old master are dropped, and the next one binds to the
// master the sentinels name then. Failovers in quick succession are spaced
// out (a demoted master named again, sentinels that disagree).
func (s *Syncer) followTargetFailover(ctx context.Context, cause error) error {
	sn := s.sentinels
	sn.mu.Lock()
	if time.Since(sn.lastSwitch) > time.Minute {
		sn.failovers.Reset()
	}
	sn.lastSwitch = time.Now()
	wait := sn.failovers.Next()
	old := sn.targetAddr
	sn.targetAddr = ""
	sn.mu.Unlock()
	if s.opt.CheckpointKey == "" {
		// The checkpoint is in the state dir, not in the target: it cannot
		// say what the new master lacks.
		s.log.Error("the target failed over with checkpoint = \"file\": what the old master took after the promotion is lost "+
			"on the target and is not applied again; run redferry verify (checkpoint = \"target\" recovers it)",
			zap.String("old_master", old), zap.Error(cause))
	} else {
		s.log.Warn("the target failed over: continuing from the checkpoint its new master holds",
			zap.String("old_master", old), zap.Duration("in", wait), zap.Error(cause))
	}
	s.tracker.AddReconnect()
	if st, ok := s.target.(*sink.Standalone); ok { // a sentinel names standalone masters
		st.Disconnect()
	}
	// The control client's pooled connections may lead to the old master.
	ctl := s.opt.Target
	ctl.PoolSize = 2
	old2 := s.targetCtl
	s.targetCtl = server.NewClient(ctl)
	_ = old2.Close()
	return retry.Sleep(ctx, wait)
}
