package sink

import (
	"context"
	"errors"
	"fmt"
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
