package cutover

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// poll calls done every interval until it holds. When ctx ends, between two
// calls or inside one (an INFO to the source cut short by the deadline), the
// error names what the cutover waited for (missed, read then, so it tells the
// latest offsets) and how long it waited, never the interrupted call: that an
// INFO was cut short says nothing the operator can act on.
func poll(ctx context.Context, start time.Time, interval time.Duration, done func() (bool, error), missed func() string) error {
	for {
		ok, err := done()
		if ok {
			return nil
		}
		if over(ctx) {
			return ended(ctx, start, missed())
		}
		if err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ended(ctx, start, missed())
		case <-time.After(interval):
		}
	}
}

// over tells whether ctx has ended or reached its deadline. The deadline
// counts on its own: a client call given ctx sets it on its socket, whose
// i/o timeout can come back a moment before ctx's own timer fires.
func over(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}

// ended is the error of a cutover whose ctx ended while it waited for
// something: ErrTimeout at its deadline, the cancellation otherwise (the
// caller went away).
func ended(ctx context.Context, start time.Time, missed string) error {
	waited := time.Since(start).Round(10 * time.Millisecond)
	if err := ctx.Err(); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("cutover canceled after %s: %s: %w", waited, missed, err)
	}
	return fmt.Errorf("%w after %s: %s: check the sync's log and /status, then try again", ErrTimeout, waited, missed)
}
