package sink

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// ErrTargetMoved is returned by a Config.Resolve that names another server
// than the one written to so far (a failover of a sentinel-managed
// target). The sink does not reconnect to it by itself: what the old
// server acknowledged may be missing on the new one, so only the caller,
// reading the checkpoint the new server holds, knows where to go on from.
var ErrTargetMoved = errors.New("the target's master moved to another server")

// addr is the server to connect to now.
func (c *Config) addr(ctx context.Context) (string, error) {
	if c.Resolve == nil {
		return c.Addr, nil
	}
	addr, err := c.Resolve(ctx)
	if err != nil {
		return "", fmt.Errorf("sink: finding the target %s: %w", c.Addr, err)
	}
	return addr, nil
}

// Disconnect closes the connection; the next call connects again (through
// Config.Resolve, when set). For a caller that learnt the target moved.
func (s *Standalone) Disconnect() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropConn()
}

// Bound returns a Config.Resolve that holds on to the first server resolve
// names: a later, different answer is ErrTargetMoved. For a writer without
// a checkpoint to continue from on a new master (a restore, a scan), which
// must stop rather than go on where earlier writes may be missing.
func Bound(resolve func(ctx context.Context) (string, error)) func(ctx context.Context) (string, error) {
	var mu sync.Mutex
	first := ""
	return func(ctx context.Context) (string, error) {
		addr, err := resolve(ctx)
		if err != nil {
			return "", err
		}
		mu.Lock()
		defer mu.Unlock()
		switch first {
		case "":
			first = addr
		case addr:
		default:
			return "", fmt.Errorf("%w: it was %s, it is %s now; what was written to %s after the failover may be missing: run again",
				ErrTargetMoved, first, addr, first)
		}
		return addr, nil
	}
}
