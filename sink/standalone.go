package sink

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redferry/redferry/pkg/retry"
	"github.com/redferry/redferry/pkg/server"

	"go.uber.org/zap"
)

// Config configures a Standalone sink.
type Config struct {
	Addr, Username, Password string // the password is never logged
	TLS                      *tls.Config
	// Resolve, when set, names the server to connect to, asked before every
	// connection (a sentinel-managed target, resolve.go); Addr then only
	// names the target in messages.
	Resolve func(ctx context.Context) (string, error)
	// CheckpointKey is the db-0 key Apply writes each batch's Checkpoint
	// to, in the batch's transaction; "" disables in-target checkpoints
	// (then a batch lost in a connection failure is resent: at least once).
	CheckpointKey string
	// OnError is "stop" (default: return the first error) or "log" (log it,
	// skip the command, go on).
	OnError string
	// OnSkipped, when set, is called for each command skipped with OnError
	// "log" (to count it), on the goroutine running Apply.
	OnSkipped func(*TargetError)
	// OnCrossSlot is for a cluster target: what to do with a source
	// transaction (MULTI/EXEC, a script) writing keys in different slots,
	// which a cluster cannot apply atomically: "stop" (default: an error
	// naming it) or "split" (applied one slot at a time).
	OnCrossSlot            string
	DialTimeout, IOTimeout time.Duration // defaults 5 s, 30 s
	Logger                 *zap.Logger
}

// OnError values.
const (
	OnErrorStop = "stop"
	OnErrorLog  = "log"
)

// OnCrossSlot values.
const (
	OnCrossSlotStop  = "stop"
	OnCrossSlotSplit = "split"
)

func (c *Config) validate() error {
	var errs []error
	if c.Addr == "" && c.Resolve == nil {
		errs = append(errs, errors.New("Addr: empty"))
	}
	switch c.OnError {
	case "", OnErrorStop, OnErrorLog:
	default:
		errs = append(errs, fmt.Errorf("OnError: %q is neither %q nor %q", c.OnError, OnErrorStop, OnErrorLog))
	}
	switch c.OnCrossSlot {
	case "", OnCrossSlotStop, OnCrossSlotSplit:
	default:
		errs = append(errs, fmt.Errorf("OnCrossSlot: %q is neither %q nor %q", c.OnCrossSlot, OnCrossSlotStop, OnCrossSlotSplit))
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
	info  server.Info
	stats stats

	mu   sync.Mutex
	conn *conn // nil after a failure until reconnected
}

// NewStandalone connects, authenticates and reads the target's version.
func NewStandalone(ctx context.Context, cfg Config) (*Standalone, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
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
		s.info, err = server.Parse(string(r.Line))
	}
	if err != nil {
		c.close()
		return nil, err
	}
	s.conn = c
	s.log.Info("connected to target", zap.Stringer("server", s.info))
	return s, nil
}

// Server says what the target is and supports.
func (s *Standalone) Server() server.Info { return s.info }

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
	bo := retry.Backoff{Max: 5 * time.Second}
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
		wait := bo.Next()
		s.log.Warn("target unreachable, retrying", zap.Int("attempt", attempt), zap.Duration("backoff", wait), zap.Error(err))
		if err := retry.Sleep(ctx, wait); err != nil {
			return fmt.Errorf("sink: reconnect to %s: %w", s.cfg.Addr, err)
		}
	}
}

func (s *Standalone) dropConn() {
	if s.conn != nil {
		_ = s.conn.close()
		s.conn = nil
	}
}
