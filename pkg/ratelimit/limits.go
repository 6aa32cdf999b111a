// Package ratelimit caps the commands and bytes per second written to the
// target. The caps change at run time (the status server's PUT /limits).
package ratelimit

import (
	"context"
	"sync"
	"time"
)

// Limits holds the caps, commands and bytes per second (0: none), and paces
// the writes that Wait is told of. Each limit keeps the time its next write
// may start (a virtual clock, GCRA): a write of n commands moves it n/rate
// seconds on, and it never lags the wall clock, so an idle spell earns no
// burst. Safe for concurrent use.
type Limits struct {
	mu         sync.Mutex
	ops, bytes int64
	nextOps    time.Time
	nextBytes  time.Time
	changed    chan struct{} // closed by Set: waiters book again at the new rates
	throttled  time.Duration // time spent waiting, in all
	// now and after are the clock (tests use a fake one).
	now   func() time.Time
	after func(time.Duration) <-chan time.Time
}

// New returns Limits with the given caps (0: none).
func New(opsPerSecond, bytesPerSecond int64) *Limits {
	return &Limits{ops: max(opsPerSecond, 0), bytes: max(bytesPerSecond, 0), changed: make(chan struct{}),
		now: time.Now, after: time.After}
}

// Get returns the caps (0: none).
func (l *Limits) Get() (opsPerSecond, bytesPerSecond int64) {
	if l == nil {
		return 0, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ops, l.bytes
}

// Set changes the caps (0: none, < 0: unchanged). Writes waiting under the
// old caps book again under the new ones at once.
func (l *Limits) Set(opsPerSecond, bytesPerSecond int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if opsPerSecond >= 0 {
		l.ops = opsPerSecond
	}
	if bytesPerSecond >= 0 {
		l.bytes = bytesPerSecond
	}
	now := l.now()
	l.nextOps, l.nextBytes = now, now
	close(l.changed)
	l.changed = make(chan struct{})
}

// Throttled is the time writes have waited for the caps, in all.
func (l *Limits) Throttled() time.Duration {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.throttled
}

// Caps narrows batch sizes to a tenth of a second's worth of the caps, so
// that the pace is even rather than a big batch now and a long wait after.
func (l *Limits) Caps(commands, bytes int) (int, int) {
	ops, bps := l.Get()
	if ops > 0 {
		commands = int(min(int64(commands), max(ops/10, 1)))
	}
	if bps > 0 {
		bytes = int(min(int64(bytes), max(bps/10, 1)))
	}
	return commands, bytes
}

// Wait waits until a write of ops commands and size bytes may start under
// the caps, and books it. It returns ctx's error if ctx ends first (the
// write is then not booked).
func (l *Limits) Wait(ctx context.Context, ops, size int) error {
	if l == nil {
		return nil
	}
	for {
		l.mu.Lock()
		if l.ops == 0 && l.bytes == 0 {
			l.mu.Unlock()
			return nil
		}
		now := l.now()
		start := now
		if l.ops > 0 {
			start = later(start, l.nextOps)
		}
		if l.bytes > 0 {
			start = later(start, l.nextBytes)
		}
		wait := start.Sub(now)
		changed := l.changed
		if wait <= 0 {
			l.book(start, ops, size)
			l.mu.Unlock()
			return nil
		}
		l.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
			// The caps changed: book again, counting the time waited so far.
			l.mu.Lock()
			l.throttled += max(l.now().Sub(now), 0)
			l.mu.Unlock()
			continue
		case <-l.after(wait):
		}
		l.mu.Lock()
		if l.changed == changed {
			l.book(start, ops, size)
			l.throttled += wait
			l.mu.Unlock()
			return nil
		}
		l.mu.Unlock() // changed while the timer fired: book again
	}
}

// book moves the limits' clocks past a write starting at start.
func (l *Limits) book(start time.Time, ops, size int) {
	if l.ops > 0 {
		l.nextOps = start.Add(time.Duration(float64(ops) / float64(l.ops) * float64(time.Second)))
	}
	if l.bytes > 0 {
		l.nextBytes = start.Add(time.Duration(float64(size) / float64(l.bytes) * float64(time.Second)))
	}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// Ahead is how long a write asked for now would wait under the caps (0:
// none), so a caller can apply what it holds before a long wait.
func (l *Limits) Ahead() time.Duration {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	start := now
	if l.ops > 0 {
		start = later(start, l.nextOps)
	}
	if l.bytes > 0 {
		start = later(start, l.nextBytes)
	}
	return start.Sub(now)
}
