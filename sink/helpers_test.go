package sink

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/redferry/redferry/internal/redistest"
)

// newSink and ctx stand again in transform/helpers_test.go, on purpose:
// sink's tests are in package sink, so they cannot import a shared helper
// package that imports sink (an import cycle), and sink's own API is no
// place for test helpers. A shared package would leave two copies all the
// same (sink's and its own).
func newSink(t *testing.T, srv *redistest.Server, cfg Config) *Standalone {
	t.Helper()
	cfg.Addr = srv.Addr
	if cfg.Logger == nil {
		cfg.Logger = zaptest.NewLogger(t)
	}
	if cfg.IOTimeout == 0 {
		cfg.IOTimeout = 10 * time.Second
	}
	s, err := NewStandalone(context.Background(), cfg)
	if err != nil {
		t.Fatalf("NewStandalone(%s): %v", srv.Name, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}
