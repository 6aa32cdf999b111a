package rollback

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/server"
	"github.com/redferry/redferry/protocol"
)

// Paths of the reverse link's start.
const (
	// PathExistingBacklog: the target had a replication backlog (it has, or
	// recently had, replicas): the reverse link continues from it at no cost.
	PathExistingBacklog = "existing-backlog"
	// PathCreatedBacklog: the target had none; a replica link whose snapshot
	// was discarded made one before the pause.
	PathCreatedBacklog = "created-backlog"
)

// ensureBacklog makes sure the target keeps a replication backlog, so that
// the reverse link can PSYNC from the cutover offset. A server creates its
// backlog only when a replica attaches with a full sync (and takes a new
// replication id then): without one, a replica link is opened and its
// snapshot thrown away, since the old source holds the same data. This runs
// before the pause, so the switch itself stays short.
func ensureBacklog(ctx context.Context, ctl *redis.Client, link protocol.LinkConfig, log *zap.Logger) (path, cost string, err error) {
	info, err := server.Fetch(ctx, ctl)
	if err != nil {
		return "", "", fmt.Errorf("keep-rollback: the target %s: %w", link.Addr, err)
	}
	if info.Fields["repl_backlog_active"] == "1" {
		cost = fmt.Sprintf("none: the target has a replication backlog (%d replicas, %s bytes)",
			len(info.Replicas), info.Fields["repl_backlog_size"])
		log.Info("the target has a replication backlog: the reverse link continues from it", zap.Int("replicas", len(info.Replicas)))
		return PathExistingBacklog, cost, nil
	}
	start := time.Now()
	log.Info("the target has no replication backlog: making one with a replica link whose snapshot is discarded (the old source holds the same data)")
	l, err := protocol.Dial(ctx, link)
	if err != nil {
		return "", "", fmt.Errorf("keep-rollback: connecting to the target %s as a replica to make it keep a replication backlog: %w", link.Addr, err)
	}
	defer l.Close()
	res, err := l.PSync(ctx, "?", -1)
	if err != nil {
		return "", "", fmt.Errorf("keep-rollback: PSYNC on the target %s (the target user needs +psync +replconf): %w", link.Addr, err)
	}
	if !res.Full {
		return "", "", fmt.Errorf("keep-rollback: the target %s answered PSYNC ? -1 with CONTINUE, not a full sync", link.Addr)
	}
	n, err := l.ReadSnapshot(ctx, io.Discard, func(int64) {})
	if err != nil {
		return "", "", fmt.Errorf("keep-rollback: reading the target's snapshot (to be discarded): %w", err)
	}
	took := time.Since(start)
	cost = fmt.Sprintf("one full sync of the target into a discarding replica: the target forked for a %d-byte snapshot, %s",
		n, took.Round(time.Millisecond))
	log.Warn("made a replication backlog on the target", zap.Int64("snapshot_bytes_discarded", n), zap.Duration("took", took),
		zap.String("replid", res.ReplID), zap.Int64("offset", res.Offset))
	return PathCreatedBacklog, cost, nil
}
