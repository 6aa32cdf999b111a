package sink

import (
	"context"
	"fmt"

	"github.com/redferry/redferry/pkg/server"
)

// Writer is what a sync or a restore writes through: a Standalone, or a
// Cluster when the target is a cluster node.
type Writer interface {
	// Server says what the target is and supports.
	Server() server.Info
	// Apply applies a batch with its checkpoint (see Standalone.Apply).
	Apply(ctx context.Context, b *Batch) error
	// ApplyStrict is Apply that stops on any rejected command and whose
	// outcome must be known (see Standalone.ApplyStrict).
	ApplyStrict(ctx context.Context, b *Batch) error
	// LoadCheckpoint returns the checkpoint to resume from; nil when none.
	LoadCheckpoint(ctx context.Context) ([]byte, error)
	// ForgetCheckpoint drops what the last LoadCheckpoint read: redferry
	// emptied the target, or starts a new full sync (see forget.go).
	ForgetCheckpoint()
	// LowerStreamPositions lowers every stream offset this sync's
	// checkpoint records in the target past fork down to fork: the source's
	// history forked there, and only PINGs and REPLCONFs lie past it
	// (lower_stream.go). Snapshot positions are left alone. Idempotent.
	LowerStreamPositions(ctx context.Context, fork int64) error
	// ProbeRestore tells whether the target loads a module value's payload.
	ProbeRestore(ctx context.Context, payload []byte) (ok bool, reason string, err error)
	// NewPipeline applies batches in the background, one after the other.
	NewPipeline() *Pipeline
	Stats() Stats
	Close() error
}

// Open connects to the target at cfg.Addr: a Cluster when it is a cluster
// node (INFO cluster_enabled:1), a Standalone otherwise.
func Open(ctx context.Context, cfg Config) (Writer, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cluster, err := isClusterNode(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if cluster {
		return NewCluster(ctx, cfg)
	}
	return NewStandalone(ctx, cfg)
}

func isClusterNode(ctx context.Context, cfg Config) (bool, error) {
	c, err := dial(ctx, &cfg)
	if err != nil {
		return false, err
	}
	defer c.close()
	r, err := c.do("INFO") // default sections: server and cluster
	if err == nil {
		err = checkNoAuth(r, cfg.Addr)
	}
	if err != nil {
		return false, err
	}
	if r.Type != respBulk {
		return false, fmt.Errorf("sink: INFO on %s: unexpected reply %c%s", cfg.Addr, r.Type, r.Line)
	}
	info, err := server.Parse(string(r.Line))
	if err != nil {
		return false, fmt.Errorf("sink: INFO on %s: %w", cfg.Addr, err)
	}
	return info.ClusterEnabled, nil
}
