package sink

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Sink applies batches to a target.
type Sink interface {
	// Apply applies the whole batch atomically, or returns an error saying
	// whether any of it was applied (see TargetError).
	Apply(ctx context.Context, b *Batch) error
	Close() error
}

// Config configures a Standalone sink.
type Config struct {
	Addr, Username, Password string // the password is never logged
	TLS                      *tls.Config
	// CheckpointKey is the db-0 key Apply writes each batch's Checkpoint
	// to, in the batch's transaction; "" disables in-target checkpoints
	// (then a batch lost in a connection failure is resent: at least once).
	CheckpointKey string
	// OnError is "stop" (default: return the first error) or "log" (log it,
	// skip the command, go on).
	OnError                string
	DialTimeout, IOTimeout time.Duration // defaults 5 s, 30 s
	Logger                 *zap.Logger
}

// OnError values.
const (
	OnErrorStop = "stop"
	OnErrorLog  = "log"
)

func (c *Config) validate() error {
	var errs []error
	if c.Addr == "" {
		errs = append(errs, errors.New("Addr: empty"))
	}
	switch c.OnError {
	case "", OnErrorStop, OnErrorLog:
	default:
		errs = append(errs, fmt.Errorf("OnError: %q is neither %q nor %q", c.OnError, OnErrorStop, OnErrorLog))
	}
	if c.DialTimeout < 0 || c.IOTimeout < 0 {
		errs = append(errs, errors.New("DialTimeout, IOTimeout: negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sink: config: %w", err)
	}
	return nil
}

// Standalone is a Sink writing to one standalone server over one
// connection. It is not meant for concurrent Apply calls (they serialize).
type Standalone struct {
	cfg   Config
	log   *zap.Logger
	caps  Caps
	stats stats

	mu   sync.Mutex
	conn *conn // nil after a failure until reconnected
}

var _ Sink = (*Standalone)(nil)

// NewStandalone connects, authenticates and reads the target's version.
func NewStandalone(ctx context.Context, cfg Config) (*Standalone, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.OnError == "" {
		cfg.OnError = OnErrorStop
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	if cfg.IOTimeout == 0 {
		cfg.IOTimeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	s := &Standalone{cfg: cfg, log: cfg.Logger.With(zap.String("stage", "sink"), zap.String("target", cfg.Addr))}
	c, err := dial(ctx, &s.cfg)
	if err != nil {
		return nil, err
	}
	r, err := c.do("INFO", "server")
	if err == nil {
		err = checkNoAuth(r, cfg.Addr)
	}
	if err == nil && r.Type != respBulk {
		err = fmt.Errorf("sink: INFO server on %s: unexpected reply %c%s", cfg.Addr, r.Type, r.Line)
	}
	if err == nil {
		s.caps, err = ParseCaps(string(r.Line))
	}
	if err != nil {
		c.close()
		return nil, err
	}
	s.conn = c
	s.log.Info("connected to target", zap.Stringer("server", s.caps))
	return s, nil
}

// Caps returns what the target supports.
func (s *Standalone) Caps() Caps { return s.caps }

// Close closes the connection.
func (s *Standalone) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return nil
	}
	err := s.conn.close()
	s.conn = nil
	return err
}

// LoadCheckpoint reads the checkpoint key from db 0; nil when absent or
// when no CheckpointKey is configured.
func (s *Standalone) LoadCheckpoint(ctx context.Context) ([]byte, error) {
	if s.cfg.CheckpointKey == "" {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.ensureConn(ctx); err != nil {
		return nil, err
	}
	v, err := s.getCheckpoint()
	if err != nil {
		s.dropConn()
	}
	return v, err
}

func (s *Standalone) getCheckpoint() ([]byte, error) {
	r, err := s.conn.do("SELECT", "0")
	if err == nil && r.isError() {
		err = fmt.Errorf("sink: SELECT 0: %s", r.Line)
	}
	if err != nil {
		return nil, err
	}
	r, err = s.conn.do("GET", s.cfg.CheckpointKey)
	if err != nil {
		return nil, err
	}
	switch {
	case r.isError():
		return nil, fmt.Errorf("sink: GET %s: %s", s.cfg.CheckpointKey, r.Line)
	case r.Nil:
		return nil, nil
	case r.Type != respBulk:
		return nil, fmt.Errorf("sink: GET %s: unexpected reply type %c", s.cfg.CheckpointKey, r.Type)
	}
	return bytes.Clone(r.Line), nil
}

func (s *Standalone) ensureConn(ctx context.Context) error {
	if s.conn != nil {
		return nil
	}
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		c, err := dial(ctx, &s.cfg)
		if err == nil {
			s.conn = c
			s.stats.reconnects.Add(1)
			s.log.Info("reconnected to target", zap.Int("attempt", attempt))
			return nil
		}
		if !retryable(err) || ctx.Err() != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("sink: reconnect to %s: %w", s.cfg.Addr, ctx.Err())
			}
			return err
		}
		s.log.Warn("target unreachable, retrying", zap.Int("attempt", attempt), zap.Duration("backoff", backoff), zap.Error(err))
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("sink: reconnect to %s: %w", s.cfg.Addr, ctx.Err())
		case <-t.C:
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func (s *Standalone) dropConn() {
	if s.conn != nil {
		_ = s.conn.close()
		s.conn = nil
	}
}

// Apply writes the batch as MULTI, SELECT StartDB, the commands, [SELECT 0,
// SET checkpoint], EXEC in one write and reads every reply.
func (s *Standalone) Apply(ctx context.Context, b *Batch) error {
	if b.Len() == 0 && b.Checkpoint == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := b
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.ensureConn(ctx); err != nil {
			return err
		}
		res, err := s.send(ctx, cur)
		if err != nil {
			s.dropConn()
			if ctxErr := ctx.Err(); ctxErr != nil {
				return fmt.Errorf("sink: batch interrupted, its outcome is unknown until the checkpoint is read: %w", ctxErr)
			}
			if !retryable(err) {
				return err
			}
			s.log.Warn("connection lost during a batch", zap.Int("commands", cur.Len()), zap.Error(err))
			applied, err := s.recoverBatch(ctx, cur)
			if err != nil {
				return err
			}
			if applied {
				s.stats.applied.Add(int64(cur.Len()))
				s.stats.batches.Add(1)
				return nil
			}
			continue
		}
		if res.ctlErr != "" {
			return fmt.Errorf("sink: target refused the batch frame (%s); nothing of the batch was applied", res.ctlErr)
		}
		if len(res.queueErrs) > 0 {
			if s.cfg.OnError == OnErrorStop {
				return firstTargetError(cur, res.queueErrs, false)
			}
			for i, msg := range res.queueErrs {
				s.logTargetError(newTargetError(cur, i, msg, false))
			}
			s.stats.skipped.Add(int64(len(res.queueErrs)))
			s.stats.errors.Add(int64(len(res.queueErrs)))
			cur = cur.without(res.queueErrs.set())
			continue
		}
		s.stats.batches.Add(1)
		s.stats.applied.Add(int64(cur.Len() - len(res.execErrs)))
		if len(res.execErrs) > 0 {
			s.stats.errors.Add(int64(len(res.execErrs)))
			if s.cfg.OnError == OnErrorStop {
				return firstTargetError(cur, res.execErrs, true)
			}
			for i, msg := range res.execErrs {
				s.logTargetError(newTargetError(cur, i, msg, true))
			}
		}
		return nil
	}
}

// recoverBatch reconnects and decides whether the batch whose outcome was
// lost was applied: by the checkpoint key when there is one.
func (s *Standalone) recoverBatch(ctx context.Context, b *Batch) (applied bool, err error) {
	if err := s.ensureConn(ctx); err != nil {
		return false, err
	}
	if s.cfg.CheckpointKey == "" || b.Checkpoint == nil {
		s.log.Warn("resending a batch whose outcome is unknown (no checkpoint in the batch): its commands may apply twice",
			zap.Int("commands", b.Len()))
		return false, nil
	}
	v, err := s.getCheckpoint()
	if err != nil {
		s.dropConn()
		return false, fmt.Errorf("sink: read checkpoint after reconnect: %w", err)
	}
	applied = bytes.Equal(v, b.Checkpoint)
	s.log.Info("checked lost batch against the target's checkpoint", zap.Bool("applied", applied))
	return applied, nil
}

func (s *Standalone) logTargetError(e *TargetError) {
	s.log.Error("target rejected a command", zap.String("command", e.Command), zap.ByteString("key", e.Key),
		zap.Int64("offset", e.Offset), zap.String("reply", e.Message), zap.Bool("batch_applied", e.Applied))
}

type cmdErrs map[int]string

func (m cmdErrs) set() map[int]bool {
	s := make(map[int]bool, len(m))
	for i := range m {
		s[i] = true
	}
	return s
}

func firstTargetError(b *Batch, errs cmdErrs, applied bool) *TargetError {
	first := -1
	for i := range errs {
		if first < 0 || i < first {
			first = i
		}
	}
	e := newTargetError(b, first, errs[first], applied)
	e.Others = len(errs) - 1
	return e
}

type sendResult struct {
	queueErrs cmdErrs // commands refused at queue time: EXEC aborted
	execErrs  cmdErrs // commands that failed inside EXEC: the batch applied
	ctlErr    string  // our own MULTI/SELECT/SET/EXEC failed
}

var (
	cmdMulti = appendCommandStrings(nil, "MULTI")
	cmdExec  = appendCommandStrings(nil, "EXEC")
	cmdSel0  = appendCommandStrings(nil, "SELECT", "0")
)

func (s *Standalone) send(ctx context.Context, b *Batch) (sendResult, error) {
	c := s.conn
	stop := context.AfterFunc(ctx, func() { _ = c.nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	var res sendResult
	c.deadline()
	c.scratch = append(c.scratch[:0], cmdMulti...)
	c.scratch = appendCommandStrings(c.scratch, "SELECT", strconv.Itoa(b.StartDB))
	w := c.w
	_, _ = w.Write(c.scratch)
	_, _ = w.Write(b.buf)
	withCP := b.Checkpoint != nil && s.cfg.CheckpointKey != ""
	if withCP {
		c.scratch = append(c.scratch[:0], cmdSel0...)
		c.scratch = appendCommand(c.scratch, []byte("SET"), []byte(s.cfg.CheckpointKey), b.Checkpoint)
		_, _ = w.Write(c.scratch)
	}
	_, _ = w.Write(cmdExec)
	if err := w.Flush(); err != nil {
		return res, err
	}
	// MULTI
	c.deadline()
	r, err := c.rr.read()
	if err != nil {
		return res, err
	}
	if err := checkNoAuth(r, s.cfg.Addr); err != nil {
		return res, err
	}
	if r.isError() {
		res.ctlErr = "MULTI: " + string(r.Line)
	}
	n := b.Len()
	total := 1 + n // SELECT StartDB + commands
	if withCP {
		total += 2
	}
	for j := 0; j < total; j++ {
		c.deadline()
		r, err := c.rr.read()
		if err != nil {
			return res, err
		}
		if !r.isError() {
			continue
		}
		if i := j - 1; i >= 0 && i < n {
			if res.queueErrs == nil {
				res.queueErrs = cmdErrs{}
			}
			res.queueErrs[i] = string(r.Line)
		} else if res.ctlErr == "" {
			res.ctlErr = ctlName(j, n) + ": " + string(r.Line)
		}
	}
	c.deadline()
	r, err = c.rr.read()
	if err != nil {
		return res, err
	}
	switch {
	case r.isError():
		if res.queueErrs == nil && res.ctlErr == "" {
			res.ctlErr = "EXEC: " + string(r.Line)
		}
	case r.Type != respArray || r.Nil:
		res.ctlErr = "EXEC: transaction discarded"
	default:
		for k, msg := range r.Errs {
			if i := k - 1; i >= 0 && i < n {
				if res.execErrs == nil {
					res.execErrs = cmdErrs{}
				}
				res.execErrs[i] = msg
			} else if res.ctlErr == "" {
				res.ctlErr = ctlName(k, n) + ": " + msg
			}
		}
	}
	return res, nil
}

func ctlName(j, n int) string {
	switch {
	case j == 0:
		return "SELECT <StartDB>"
	case j == n+1:
		return "SELECT 0 (checkpoint)"
	default:
		return "SET <checkpoint key>"
	}
}
