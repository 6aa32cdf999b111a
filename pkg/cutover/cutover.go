// Package cutover brings a running sync to the point where clients can
// switch from the source to the target: it waits until the lag is zero,
// optionally pauses writes on the source for a bounded time (CLIENT PAUSE,
// which ends on its own), and waits until the offset applied to the target
// equals the source's master_repl_offset.
package cutover

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/config"
	"github.com/redferry/redferry/pkg/server"
	"github.com/redferry/redferry/pkg/status"
)

// MaxPause bounds the write pause one cutover may ask for: a forgotten or
// failed cutover must never keep the source's clients blocked for long.
const MaxPause = 5 * time.Minute

// Options of one cutover.
type Options struct {
	// Pause, when > 0, pauses the source's writes for this long
	// (CLIENT PAUSE <ms> WRITE; ALL on servers before 6.2).
	Pause time.Duration
	// Timeout bounds the whole cutover (default 60s; with a pause, at most the pause).
	Timeout time.Duration
	// KeepRollback stops the forward sync at the cutover point and starts a
	// reverse link that keeps the old source current (see Keeper); it needs
	// a pause.
	KeepRollback bool
}

// Result is what a cutover reached.
type Result struct {
	// Offset is the source's master_repl_offset that the target has applied.
	Offset int64 `json:"offset"`
	// Paused tells whether writes on the source are paused, PauseMode how
	// (WRITE, or ALL on Redis 6.0) and PauseEnds when the pause ends by itself.
	Paused    bool      `json:"paused"`
	PauseMode string    `json:"pause_mode,omitempty"`
	PauseEnds time.Time `json:"pause_ends,omitzero"`
	// Notes are things the operator must know (e.g. reads paused too).
	Notes   []string `json:"notes,omitempty"`
	Elapsed float64  `json:"elapsed_seconds"`
	// Rollback is the reverse link a KeepRollback cutover prepared.
	Rollback *Kept `json:"rollback,omitempty"`
}

// Sentinel errors, for the HTTP status code.
var (
	ErrBusy     = errors.New("a cutover is already running")
	ErrTimeout  = errors.New("cutover timed out")
	ErrBadInput = errors.New("bad cutover request")
)

// Cutover runs cutovers for one sync. Safe for concurrent use; one cutover
// runs at a time.
type Cutover struct {
	src     *redis.Client
	tracker *status.Tracker
	log     *zap.Logger
	poll    time.Duration
	running sync.Mutex
	keeper  Keeper // keep.go; nil: no rollback-ready cutovers
}

// New builds a Cutover from the sync's configuration (the source URL,
// password and TLS) and its tracker (offsets received and applied).
func New(cfg config.Config, tracker *status.Tracker, log *zap.Logger) (*Cutover, error) {
	opts, err := cfg.SourceClient()
	if err != nil {
		return nil, fmt.Errorf("cutover: %w", err)
	}
	// Retries stay off (server.NewClient): a CLIENT PAUSE sent twice would extend the pause.
	opts.PoolSize = 2
	return NewWithClient(server.NewClient(opts), tracker, log), nil
}

// NewWithClient is New with a ready client for the source (closed by Close).
func NewWithClient(src *redis.Client, tracker *status.Tracker, log *zap.Logger) *Cutover {
	return &Cutover{src: src, tracker: tracker, log: log.With(zap.String("stage", "cutover")), poll: 20 * time.Millisecond}
}

// Close closes the source connection.
func (c *Cutover) Close() error { return c.src.Close() }

// Run performs one cutover. On success the target holds everything the
// source had at Result.Offset; with a pause, no write can have followed
// until Result.PauseEnds.
func (c *Cutover) Run(ctx context.Context, opt Options) (Result, error) {
	if opt.Pause < 0 || opt.Pause > MaxPause {
		return Result{}, fmt.Errorf("%w: pause %s is not between 0 and %s", ErrBadInput, opt.Pause, MaxPause)
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 60 * time.Second
	}
	if err := c.checkKeep(opt); err != nil {
		return Result{}, err
	}
	if !c.running.TryLock() {
		return Result{}, ErrBusy
	}
	defer c.running.Unlock()
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, opt.Timeout)
	defer cancel()
	var res Result

	// 1. Lag zero: everything received is applied. Without it a pause would
	// last the whole catch-up.
	if err := poll(ctx, start, c.poll, func() (bool, error) {
		if p := c.tracker.Phase(); p != status.PhaseStreaming {
			return false, nil
		}
		return c.tracker.Applied() >= c.tracker.Received(), nil
	}, c.lagMissed); err != nil {
		return res, err
	}
	if opt.KeepRollback {
		// Before the pause: a backlog made now does not lengthen it.
		defer func() {
			if res.Rollback == nil {
				c.keeper.Abandon()
			}
		}()
		if err := c.keeper.Prepare(ctx); err != nil {
			return res, err
		}
	}

	// 2. Pause the source's writes, for a bounded time.
	pausedAt := int64(-1)
	if opt.Pause > 0 {
		mode, off, notes, err := c.pause(ctx, opt.Pause)
		if err != nil {
			if over(ctx) {
				return res, ended(ctx, start, "the source's writes were not paused")
			}
			return res, err
		}
		res.Paused, res.PauseMode, res.Notes = true, mode, notes
		res.PauseEnds = time.Now().Add(opt.Pause)
		if mode == "ALL" {
			// Every client of the source waits now, us too: no INFO until
			// the pause ends, so the offset read with the pause is the one.
			pausedAt = off
		}
		// The target must catch up before the pause ends; past it, the
		// source takes writes again and "current" means nothing.
		var cancelPause context.CancelFunc
		ctx, cancelPause = context.WithDeadline(ctx, res.PauseEnds)
		defer cancelPause()
	}

	// 3. Applied offset == the source's master_repl_offset. Each round reads
	// the source's offset anew: it may still move by the replication PINGs.
	sourceOff := pausedAt // the latest read; -1: none yet
	err := poll(ctx, start, c.poll, func() (bool, error) {
		if pausedAt < 0 {
			off, err := c.sourceOffset(ctx)
			if err != nil {
				return false, err
			}
			sourceOff = off
		}
		if c.tracker.Applied() >= sourceOff {
			res.Offset = sourceOff
			return true, nil
		}
		return false, nil
	}, func() string { return offsetMissed(sourceOff, c.tracker.Applied(), res.Paused) })
	if err != nil {
		if res.Paused {
			c.unpause(res.PauseMode)
		}
		return res, err
	}
	if opt.KeepRollback {
		if res.Rollback, err = c.keeper.Keep(ctx, res.Offset); err != nil {
			c.unpause(res.PauseMode)
			return res, err
		}
	}
	res.Elapsed = time.Since(start).Seconds()
	c.log.Info("target is current", zap.Int64("offset", res.Offset), zap.Bool("paused", res.Paused),
		zap.String("pause_mode", res.PauseMode))
	return res, nil
}

// lagMissed says how far the sync was from lag zero.
func (c *Cutover) lagMissed() string {
	r := c.tracker.Report()
	return fmt.Sprintf("the lag did not reach zero (phase %s, received %d, applied %d)", r.Phase, r.OffsetReceived, r.OffsetApplied)
}

// offsetMissed says which source offset the target did not reach (source
// < 0: the source's offset could not be read in time).
func offsetMissed(source, applied int64, paused bool) string {
	during := ""
	if paused {
		during = " while the source's writes were paused"
	}
	if source < 0 {
		return fmt.Sprintf("the source's master_repl_offset could not be read%s (applied %d)", during, applied)
	}
	return fmt.Sprintf("the target did not reach the source's offset %d (master_repl_offset)%s (applied %d)", source, during, applied)
}

// pause sends CLIENT PAUSE, WRITE mode where the server has it (6.2+ and
// every Valkey), ALL on older ones, in one MULTI with INFO replication: the
// offset returned is the source's at the instant the pause began.
func (c *Cutover) pause(ctx context.Context, d time.Duration) (mode string, offset int64, notes []string, err error) {
	info, err := server.Fetch(ctx, c.src)
	if err != nil {
		return "", 0, nil, fmt.Errorf("cutover: the source: %w", err)
	}
	ms := strconv.FormatInt(d.Milliseconds(), 10)
	mode = "WRITE"
	args := []any{"CLIENT", "PAUSE", ms, "WRITE"}
	if !info.PauseWrite() {
		mode = "ALL"
		args = args[:3]
		notes = append(notes, "the source is older than 6.2 and has no CLIENT PAUSE WRITE: ALL its clients, readers too, are paused for "+d.String())
	}
	var repl *redis.StringCmd
	_, err = c.src.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Do(ctx, args...)
		repl = p.Info(ctx, "replication")
		return nil
	})
	if err != nil {
		// Without the server's reply (a deadline or a broken link mid-call)
		// the pause may have begun: end it rather than leave the clients waiting.
		var refused redis.Error
		if !errors.As(err, &refused) {
			c.unpause(mode)
		}
		return "", 0, nil, fmt.Errorf("cutover: CLIENT PAUSE on the source (the source user needs +client|pause and +multi +exec): %w", err)
	}
	offset, err = server.ReplOffset(repl.Val())
	if err != nil {
		c.unpause(mode)
		return "", 0, nil, fmt.Errorf("cutover: the source: %w", err)
	}
	// Pausing a replica stops no client's writes: they go to its primary.
	// The sync may read from a replica on purpose, or a failover that left
	// clients connected (CLUSTER FAILOVER) demoted the node it reached.
	if role := server.Fields(repl.Val())["role"]; role != "master" {
		c.unpause(mode)
		return "", 0, nil, fmt.Errorf("cutover: the source node is a replica (role %s), not the master, so a pause there would stop no writes. "+
			"After a failover, wait until the sync follows the new master (see /status) and run the cutover again; "+
			"when the sync reads from a replica on purpose, pause the writes on its primary yourself (CLIENT PAUSE) and run the cutover without --pause", role)
	}
	c.log.Warn("source writes paused", zap.String("mode", mode), zap.Duration("for", d), zap.Int64("offset", offset))
	return mode, offset, notes, nil
}

// unpause ends a pause early after a failed cutover (6.2+: CLIENT UNPAUSE);
// on older servers the pause just runs out.
func (c *Cutover) unpause(mode string) {
	if mode != "WRITE" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.src.Do(ctx, "CLIENT", "UNPAUSE").Err(); err != nil {
		c.log.Warn("cannot end the pause early: it ends on its own", zap.Error(err))
	}
}

func (c *Cutover) sourceOffset(ctx context.Context) (int64, error) {
	info, err := c.src.Info(ctx, "replication").Result()
	if err != nil {
		return 0, fmt.Errorf("cutover: INFO replication on the source: %w", err)
	}
	return server.ReplOffset(info)
}
