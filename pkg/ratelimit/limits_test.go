package ratelimit

import (
	"context"
	"testing"
	"time"
)

// fakeClock advances only when a waiter sleeps.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }
func (c *fakeClock) after(d time.Duration) <-chan time.Time {
	c.t = c.t.Add(d)
	ch := make(chan time.Time, 1)
	ch <- c.t
	return ch
}

func newFake(ops, bytes int64) (*Limits, *fakeClock) {
	c := &fakeClock{t: time.Unix(1000, 0)}
	l := New(ops, bytes)
	l.now, l.after = c.now, c.after
	return l, c
}

func TestLimitsPace(t *testing.T) {
	tests := []struct {
		name       string
		ops, bytes int64
		writes     int
		n, size    int
		want       time.Duration // the clock when the last write may start
	}{
		{"ops", 1000, 0, 11, 100, 10, time.Second},               // 10 writes of 100 at 1000/s: 1 s
		{"bytes", 0, 1 << 20, 5, 1, 256 << 10, time.Second},      // 4 × 256 KiB at 1 MiB/s
		{"both, bytes bind", 1000, 1000, 3, 1, 500, time.Second}, // 2 × 500 B at 1000 B/s
		{"both, ops bind", 10, 1 << 30, 3, 5, 10, time.Second},
		{"none", 0, 0, 100, 1000, 1 << 20, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, c := newFake(tt.ops, tt.bytes)
			start := c.t
			for i := 0; i < tt.writes; i++ {
				if err := l.Wait(context.Background(), tt.n, tt.size); err != nil {
					t.Fatal(err)
				}
			}
			if got := c.t.Sub(start); got != tt.want {
				t.Errorf("the last write started after %s, want %s", got, tt.want)
			}
			if l.Throttled() != tt.want {
				t.Errorf("Throttled() = %s, want %s", l.Throttled(), tt.want)
			}
		})
	}
}

// An idle spell earns no burst: the writes after it are paced as before.
func TestLimitsNoBurstAfterIdle(t *testing.T) {
	l, c := newFake(100, 0)
	_ = l.Wait(context.Background(), 100, 0)
	c.t = c.t.Add(time.Hour)
	start := c.t
	for i := 0; i < 3; i++ {
		_ = l.Wait(context.Background(), 100, 0)
	}
	if got := c.t.Sub(start); got != 2*time.Second {
		t.Errorf("3 writes of a second's worth after an idle hour took %s, want 2s", got)
	}
}

// A waiter under a low cap goes at once when the cap is lifted.
func TestLimitsSetWakesWaiters(t *testing.T) {
	l := New(1, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.Wait(ctx, 1000, 0); err != nil { // books 1000 s ahead
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- l.Wait(ctx, 1, 0) }()
	time.Sleep(50 * time.Millisecond)
	l.Set(0, -1)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a waiter did not go after the cap was lifted")
	}
	if ops, bytes := l.Get(); ops != 0 || bytes != 0 {
		t.Errorf("Get() = %d, %d after Set(0, -1), want 0, 0", ops, bytes)
	}
	// The time it waited before the change counts as throttled.
	if d := l.Throttled(); d < 50*time.Millisecond || d > 5*time.Second {
		t.Errorf("Throttled() = %s after a wait of about 50ms cut short by Set, want about 50ms", d)
	}
}

func TestLimitsCaps(t *testing.T) {
	l := New(1000, 1<<20)
	if c, b := l.Caps(2000, 4<<20); c != 100 || b != 1<<20/10 {
		t.Errorf("Caps = %d, %d; want 100, %d", c, b, 1<<20/10)
	}
	l.Set(5, 0)
	if c, b := l.Caps(2000, 4<<20); c != 1 || b != 4<<20 {
		t.Errorf("Caps = %d, %d; want 1, %d", c, b, 4<<20)
	}
}

// Ahead says how long the next write would wait: nothing without caps or
// before the first write, a booked write's time after one, and nothing once
// the caps are lifted.
func TestLimitsAhead(t *testing.T) {
	l, _ := newFake(100, 0)
	if d := l.Ahead(); d != 0 {
		t.Fatalf("before any write: Ahead() = %s, want 0", d)
	}
	if err := l.Wait(context.Background(), 50, 0); err != nil {
		t.Fatal(err)
	}
	if d := l.Ahead(); d != 500*time.Millisecond {
		t.Fatalf("after 50 ops at 100/s: Ahead() = %s, want 500ms", d)
	}
	l.Set(0, -1)
	if d := l.Ahead(); d != 0 {
		t.Fatalf("caps lifted: Ahead() = %s, want 0", d)
	}
	var none *Limits
	if d := none.Ahead(); d != 0 {
		t.Fatalf("nil Limits: Ahead() = %s, want 0", d)
	}
}
