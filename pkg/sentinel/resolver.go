package sentinel

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/retry"
)

// DefaultPollInterval is how often Watch asks the sentinels, in case a
// +switch-master message is missed (a sentinel connection down then).
const DefaultPollInterval = 2 * time.Second

// Resolver knows the current master of one sentinel-managed deployment and
// tells when it changes. Master asks the sentinels; Watch follows them
// (+switch-master and a poll) until its context ends.
type Resolver struct {
	cfg  Config
	log  *zap.Logger
	poll time.Duration

	mu      sync.Mutex
	cur     master
	known   bool
	changed chan struct{} // closed when cur changes, then replaced
}

// NewResolver returns a Resolver that has asked nothing yet.
func NewResolver(cfg Config, log *zap.Logger) *Resolver {
	if log == nil {
		log = zap.NewNop()
	}
	return &Resolver{cfg: cfg, log: log.With(zap.String("master_name", cfg.MasterName)), poll: DefaultPollInterval,
		changed: make(chan struct{})}
}

// Config is what the resolver was built with.
func (r *Resolver) Config() Config { return r.cfg }

// Master asks the sentinels now and returns the master with the newest
// configuration epoch; a change is announced as by Watch.
func (r *Resolver) Master(ctx context.Context) (string, error) {
	m, err := newestMaster(ctx, r.cfg)
	if err != nil {
		return "", err
	}
	return r.learn(m, "asked the sentinels"), nil
}

// Current is the master last learnt ("" before Master or Watch learnt one)
// and a channel closed when that changes.
func (r *Resolver) Current() (string, <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cur.addr, r.changed
}

// learn records m unless it is older than what is known, and returns the
// master as known after it.
func (r *Resolver) learn(m master, how string) string {
	r.mu.Lock()
	if r.known && (m.epoch < r.cur.epoch || m.addr == r.cur.addr) {
		if m.epoch > r.cur.epoch {
			r.cur.epoch = m.epoch
		}
		addr := r.cur.addr
		r.mu.Unlock()
		return addr
	}
	old, first := r.cur.addr, !r.known
	r.cur, r.known = m, true
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
	if first {
		r.log.Info("the sentinels name the master", zap.String("master", m.addr), zap.Int64("config_epoch", m.epoch))
	} else {
		r.log.Warn("the sentinels name a new master (failover)", zap.String("old", old), zap.String("new", m.addr),
			zap.Int64("config_epoch", m.epoch), zap.String("learnt", how))
	}
	return m.addr
}

// Watch follows the master until ctx ends: it subscribes to +switch-master
// on every sentinel and asks them all every poll interval.
func (r *Resolver) Watch(ctx context.Context) {
	var wg sync.WaitGroup
	for _, s := range r.cfg.Addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.subscribe(ctx, s)
		}()
	}
	t := time.NewTicker(r.poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-t.C:
			if _, err := r.Master(ctx); err != nil && ctx.Err() == nil {
				r.log.Warn("asking the sentinels for the master", zap.Error(err))
			}
		}
	}
}

// subscribe listens to one sentinel's +switch-master, reconnecting with
// backoff while ctx lasts.
func (r *Resolver) subscribe(ctx context.Context, sentinel string) {
	bo := retry.Backoff{Initial: 200 * time.Millisecond, Max: 5 * time.Second}
	for {
		started := time.Now()
		err := r.subscribeOnce(ctx, sentinel)
		if ctx.Err() != nil {
			return
		}
		if time.Since(started) > time.Minute {
			bo.Reset()
		}
		r.log.Debug("sentinel subscription lost: reconnecting", zap.String("sentinel", sentinel), zap.Error(err))
		if retry.Sleep(ctx, bo.Next()) != nil {
			return
		}
	}
}

// switchChannel is where sentinels announce a completed failover:
// "<name> <old-ip> <old-port> <new-ip> <new-port>".
const switchChannel = "+switch-master"

// idleTimeout: a subscription silent this long is PINGed; silent twice, it
// is dropped (a sentinel gone without closing the connection).
const idleTimeout = 15 * time.Second

func (r *Resolver) subscribeOnce(ctx context.Context, sentinel string) error {
	c, err := dial(ctx, r.cfg, sentinel)
	if err != nil {
		return err
	}
	defer c.close()
	if _, err := c.do(ctx, "SUBSCRIBE", switchChannel); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, c.close)
	defer stop()
	pinged := false
	for {
		_ = c.nc.SetDeadline(time.Now().Add(idleTimeout))
		rep, err := readReply(c.br)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() && !pinged {
			pinged = true
			if _, err := c.nc.Write(appendCommand(nil, "PING")); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return errors.New("the sentinel closed the connection")
			}
			return err
		}
		pinged = false
		f := texts(rep)
		if len(f) != 3 || f[0] != "message" || f[1] != switchChannel {
			continue // a PONG
		}
		if name, _, _ := strings.Cut(f[2], " "); name != r.cfg.MasterName {
			continue
		}
		r.log.Info("a sentinel announced a failover", zap.String("sentinel", sentinel), zap.String("message", f[2]))
		// The announcing sentinel has the new view with its epoch: learnt
		// from it alone, at once; an older message arriving late loses to
		// the newer epoch.
		m, err := askMaster(ctx, r.cfg, sentinel)
		if err != nil {
			if ctx.Err() == nil {
				r.log.Warn("asking the sentinel that announced a failover for the new master", zap.String("sentinel", sentinel), zap.Error(err))
			}
			continue
		}
		r.learn(m, "+switch-master from "+sentinel)
	}
}
