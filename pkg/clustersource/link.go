package clustersource

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/retry"
	"github.com/redferry/redferry/pkg/status"
	"github.com/redferry/redferry/pkg/syncer"
)

// shardDir is the state dir of one shard: its spool.
func shardDir(stateDir, name string) string { return filepath.Join(stateDir, "shards", name) }

// link runs the syncer of one shard against one master address.
type link struct {
	name    string
	addr    string
	tracker *status.Tracker
	log     *zap.Logger

	cancel context.CancelFunc
	ended  chan struct{}
	mu     sync.Mutex
	err    error       // an error that stops the whole sync
	done   atomic.Bool // Once reached, or the master left and its stream is applied
	absent int         // topology reads in a row without the shard (supervisor only)
}

func newLink(name, addr string, tr *status.Tracker, log *zap.Logger) *link {
	l := &link{name: name, addr: addr, tracker: tr, log: log, ended: make(chan struct{})}
	return l
}

// start runs the syncer in the background. A syncer that cannot start (the
// target unreachable, the spool locked by the link being replaced) is
// retried; an error of Run stops the sync.
func (l *link) start(parent context.Context, o syncer.Options) {
	ctx, cancel := context.WithCancel(parent)
	l.cancel = cancel
	go func() {
		defer close(l.ended)
		var bo retry.Backoff
		for ctx.Err() == nil {
			s, err := syncer.New(ctx, o)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				d := bo.Next()
				l.tracker.SetError(err)
				l.log.Warn("the shard's sync cannot start: retrying", zap.Error(err), zap.Duration("in", d))
				_ = retry.Sleep(ctx, d)
				continue
			}
			err = s.Run(ctx)
			_ = s.Close()
			switch {
			case err != nil:
				l.mu.Lock()
				l.err = err
				l.mu.Unlock()
			case ctx.Err() == nil:
				l.done.Store(true) // Once: caught up
			}
			return
		}
	}()
}

// stop ends the link and waits until its syncer has closed (its last batch
// applied or failed, its spool released).
func (l *link) stop() {
	if l.cancel != nil {
		l.cancel()
		<-l.ended
	}
}

func (l *link) failed() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

func (l *link) finished() bool { return l.done.Load() }

// drained: everything received has been applied.
func (l *link) drained() bool {
	return l.tracker.Phase() == status.PhaseStreaming && l.tracker.Applied() >= l.tracker.Received()
}

func sleep(d time.Duration) <-chan time.Time { return time.After(d) }
