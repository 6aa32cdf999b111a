package cutover

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/server"
	"github.com/redferry/redferry/pkg/status"
)

// A cluster source has one link per master: a cutover pauses every master
// and waits until each shard has applied its master's offset.

// Shard is one master of a cluster source as the sync follows it now.
type Shard struct {
	Name    string
	Addr    string          // the shard's current master
	Tracker *status.Tracker // the shard's offsets received and applied
}

// ClusterResult is what a cluster cutover reached: the fields of Result
// for the whole (Offset left 0), and each shard's own.
type ClusterResult struct {
	Result
	Shards map[string]Result `json:"shards"`
}

// Cluster runs cutovers for a cluster source. Safe for concurrent use; one
// cutover runs at a time.
type Cluster struct {
	src     server.ClientOptions
	shards  func() []Shard
	log     *zap.Logger
	poll    time.Duration
	running sync.Mutex
}

// NewCluster builds a cluster cutover: src gives the credentials and TLS of
// the masters (its Addr is not used), shards lists them when a cutover runs.
func NewCluster(src server.ClientOptions, shards func() []Shard, log *zap.Logger) *Cluster {
	return &Cluster{src: src, shards: shards, log: log.With(zap.String("stage", "cutover")), poll: 20 * time.Millisecond}
}

// Run performs one cutover of every shard: lag zero everywhere, then (with
// Pause) every master paused, then each shard's applied offset at its
// master's master_repl_offset. A failure ends the pauses it began.
func (c *Cluster) Run(ctx context.Context, opt Options) (ClusterResult, error) {
	res := ClusterResult{Shards: map[string]Result{}}
	if opt.Pause < 0 || opt.Pause > MaxPause {
		return res, fmt.Errorf("%w: pause %s is not between 0 and %s", ErrBadInput, opt.Pause, MaxPause)
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 60 * time.Second
	}
	if !c.running.TryLock() {
		return res, ErrBusy
	}
	defer c.running.Unlock()
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, opt.Timeout)
	defer cancel()
	shards := c.shards()
	if len(shards) == 0 {
		return res, fmt.Errorf("%w: no shard of the cluster source is running yet", ErrTimeout)
	}
	sort.Slice(shards, func(i, j int) bool { return shards[i].Name < shards[j].Name })
	legs := make([]*Cutover, len(shards))
	for i, s := range shards {
		o := c.src
		o.Addr, o.PoolSize = s.Addr, 2
		legs[i] = NewWithClient(server.NewClient(o), s.Tracker, c.log.With(zap.String("shard", s.Name), zap.String("master", s.Addr)))
		legs[i].poll = c.poll
		defer legs[i].Close()
	}

	// 1. Lag zero on every shard.
	if err := c.waitAll(ctx, start, legs, shards, "the lag of every shard did not reach zero", func(i int) (bool, error) {
		t := legs[i].tracker
		return t.Phase() == status.PhaseStreaming && t.Applied() >= t.Received(), nil
	}); err != nil {
		return res, err
	}

	// 2. Pause every master.
	pausedAt := make([]int64, len(legs))
	modes := make([]string, len(legs))
	for i := range pausedAt {
		pausedAt[i] = -1
	}
	unpause := func() {
		for i, l := range legs {
			if modes[i] != "" {
				l.unpause(modes[i])
			}
		}
	}
	if opt.Pause > 0 {
		ends := time.Now().Add(opt.Pause)
		for i, l := range legs {
			mode, off, notes, err := l.pause(ctx, opt.Pause)
			if err != nil {
				unpause()
				if over(ctx) {
					return res, ended(ctx, start, fmt.Sprintf("the writes of shard %s (master %s) were not paused", shards[i].Name, shards[i].Addr))
				}
				return res, fmt.Errorf("shard %s (master %s): %w", shards[i].Name, shards[i].Addr, err)
			}
			modes[i] = mode
			if mode == "ALL" {
				pausedAt[i] = off
			}
			res.Shards[shards[i].Name] = Result{Paused: true, PauseMode: mode, PauseEnds: time.Now().Add(opt.Pause), Notes: notes}
			res.Notes = append(res.Notes, notes...)
		}
		res.Paused, res.PauseMode, res.PauseEnds = true, modes[0], ends
		var cancelPause context.CancelFunc
		ctx, cancelPause = context.WithDeadline(ctx, ends)
		defer cancelPause()
	}

	// 3. Each shard's applied offset at its master's.
	offsets := make([]int64, len(legs))
	err := c.waitAll(ctx, start, legs, shards, "not every shard's applied offset reached its master's master_repl_offset", func(i int) (bool, error) {
		off := pausedAt[i]
		if off < 0 {
			var err error
			if off, err = legs[i].sourceOffset(ctx); err != nil {
				return false, fmt.Errorf("shard %s: %w", shards[i].Name, err)
			}
		}
		offsets[i] = off
		return legs[i].tracker.Applied() >= off, nil
	})
	if err != nil {
		unpause()
		return res, err
	}
	res.Elapsed = time.Since(start).Seconds()
	for i, s := range shards {
		r := res.Shards[s.Name]
		r.Offset, r.Elapsed = offsets[i], res.Elapsed
		res.Shards[s.Name] = r
		c.log.Info("shard is current", zap.String("shard", s.Name), zap.Int64("offset", offsets[i]), zap.Bool("paused", res.Paused))
	}
	return res, nil
}

// waitAll polls done for every shard until all hold; a timeout says missed
// and the shards still behind, as poll does for one.
func (c *Cluster) waitAll(ctx context.Context, start time.Time, legs []*Cutover, shards []Shard, missed string, done func(i int) (bool, error)) error {
	var behind []string
	return poll(ctx, start, c.poll, func() (bool, error) {
		behind = behind[:0]
		for i := range legs {
			ok, err := done(i)
			if !ok {
				r := legs[i].tracker.Report()
				behind = append(behind, fmt.Sprintf("%s (phase %s, received %d, applied %d)", shards[i].Name, r.Phase, r.OffsetReceived, r.OffsetApplied))
			}
			if err != nil {
				return false, err
			}
		}
		return len(behind) == 0, nil
	}, func() string {
		return fmt.Sprintf("%s; still waiting for shard %v", missed, behind)
	})
}

// Handler serves POST /cutover for a cluster source, as Cutover.Handler
// does, answering a ClusterResult.
func (c *Cluster) Handler() http.Handler {
	return handler(func(ctx context.Context, opt Options) (any, error) { return c.Run(ctx, opt) })
}
