// Package retry paces attempts at something that may come back: a source or
// target that is down, restarting or loading.
package retry

import (
	"context"
	"time"
)

// Backoff doubles a wait from Initial up to Max (defaults 100 ms and 30 s).
// The zero value is ready to use.
type Backoff struct {
	Initial, Max time.Duration
	d            time.Duration
}

// Next is the wait before the next attempt.
func (b *Backoff) Next() time.Duration {
	initial, limit := b.Initial, b.Max
	if initial <= 0 {
		initial = 100 * time.Millisecond
	}
	if limit <= 0 {
		limit = 30 * time.Second
	}
	if b.d == 0 {
		b.d = initial
	} else {
		b.d = min(2*b.d, limit)
	}
	return b.d
}

// Reset starts again from Initial, after a success.
func (b *Backoff) Reset() { b.d = 0 }

// Wait sleeps Next() or until ctx ends (then it returns ctx.Err()).
func (b *Backoff) Wait(ctx context.Context) error { return Sleep(ctx, b.Next()) }

// Sleep waits d or until ctx ends (then it returns ctx.Err()).
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
