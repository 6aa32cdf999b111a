package rollback

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/checkpoint"
	"github.com/redferry/redferry/pkg/cutover"
	"github.com/redferry/redferry/pkg/server"
	"github.com/redferry/redferry/pkg/status"
	"github.com/redferry/redferry/protocol"
)

var _ cutover.Keeper = (*Controller)(nil)

// Check implements cutover.Keeper.
func (c *Controller) Check(keep bool) error {
	c.mu.Lock()
	phase := c.st.Phase
	c.mu.Unlock()
	switch {
	case phase == status.RollbackReverse:
		return errors.New("the forward sync stopped at a cutover with --keep-rollback and the reverse link runs: the target is current already; `redferry rollback` switches back")
	case phase == status.RollbackRolledBack:
		return errors.New("rolled back: restart redferry sync to sync forward again, then cut over")
	case !keep:
		return nil
	case c.opt.CheckpointKey == "":
		return errors.New("--keep-rollback needs checkpoint = target: the reverse link keeps its checkpoint in the old source, as the forward sync does in the target")
	case c.opt.Filter.Active():
		return errors.New("--keep-rollback needs a sync without filters or db-map: the reverse link would have to undo them")
	}
	return nil
}

// Prepare implements cutover.Keeper: it removes the keys an earlier
// rollback left in the old source (the forward sync still runs, so it
// copies the removal, and nothing else of ours, to the target) and makes
// sure the target keeps a replication backlog.
func (c *Controller) Prepare(ctx context.Context) error {
	c.mu.Lock()
	c.cutting, c.lastErr = true, ""
	c.mu.Unlock()
	src := c.client(c.opt.Source)
	defer src.Close()
	key := c.opt.CheckpointKey
	if err := src.Del(ctx, checkpoint.ReverseKey(key), checkpoint.RolledBackKey(key)).Err(); err != nil {
		return c.failed(fmt.Errorf("keep-rollback: removing the keys of an earlier rollback from the source %s: %w", c.opt.SourceName, err))
	}
	// A spool of an earlier reverse link holds another stream of the target.
	if err := os.RemoveAll(reverseDir(c.opt.StateDir)); err != nil {
		return c.failed(fmt.Errorf("keep-rollback: removing the spool of an earlier reverse link: %w", err))
	}
	dst := c.client(c.opt.Target)
	defer dst.Close()
	t := c.opt.Target
	path, cost, err := ensureBacklog(ctx, dst, protocol.LinkConfig{Addr: t.Addr, Username: t.Username, Password: t.Password,
		TLS: t.TLS, DialTimeout: t.DialTimeout, Logger: c.opt.Logger}, c.log)
	if err != nil {
		return c.failed(err)
	}
	c.mu.Lock()
	c.pending = State{Path: path, Cost: cost}
	c.mu.Unlock()
	return nil
}

// Keep implements cutover.Keeper: the target holds the old source's
// sourceOffset and the source's writes are paused. It stops the forward
// sync, marks the target's stream (a db-0 write, so the reverse link
// starts in db 0), reads the target's offset, records both offsets, and
// hands over to the reverse link. On an error the forward sync runs again.
func (c *Controller) Keep(ctx context.Context, sourceOffset int64) (*cutover.Kept, error) {
	c.busy.Lock()
	defer c.busy.Unlock()
	stopped, err := c.stopLink()
	if !stopped {
		return nil, c.failed(errors.New("keep-rollback: the forward sync is not running"))
	}
	if err != nil {
		c.resume(status.RollbackForward)
		return nil, c.failed(fmt.Errorf("keep-rollback: the forward sync had stopped: %w", err))
	}
	fr := c.fwd.Tracker().Report()
	c.mu.Lock()
	st := c.pending
	c.mu.Unlock()
	st.Phase, st.SourceReplID, st.SourceOffset, st.CutoverAt = status.RollbackReverse, fr.ReplID, fr.OffsetApplied, time.Now().UTC()
	if st.SourceOffset < sourceOffset {
		c.resume(status.RollbackForward)
		return nil, c.failed(fmt.Errorf("keep-rollback: the forward sync stopped at offset %d, before the cutover offset %d", st.SourceOffset, sourceOffset))
	}
	dst := c.client(c.opt.Target)
	defer dst.Close()
	mark, _ := json.Marshal(map[string]any{"source_replid": st.SourceReplID, "source_offset": st.SourceOffset, "at": st.CutoverAt})
	if err := dst.Set(ctx, checkpoint.CutoverKey(c.opt.CheckpointKey), mark, 0).Err(); err != nil {
		c.resume(status.RollbackForward)
		return nil, c.failed(fmt.Errorf("keep-rollback: writing the cutover mark into the target %s: %w", c.opt.TargetName, err))
	}
	info, err := server.Fetch(ctx, dst)
	if err != nil {
		c.resume(status.RollbackForward)
		return nil, c.failed(fmt.Errorf("keep-rollback: the target %s: %w", c.opt.TargetName, err))
	}
	st.TargetReplID, st.TargetOffset = info.MasterReplID, info.MasterReplOffset
	if err := saveState(c.opt.StateDir, st); err != nil {
		c.resume(status.RollbackForward)
		return nil, c.failed(fmt.Errorf("keep-rollback: %w", err))
	}
	c.log.Info("rollback kept: the forward sync stopped at the cutover; the reverse link copies the target's writes from here into the old source",
		zap.String("path", st.Path), zap.String("cost", st.Cost), zap.String("source_replid", st.SourceReplID),
		zap.Int64("source_offset", st.SourceOffset), zap.String("target_replid", st.TargetReplID), zap.Int64("target_offset", st.TargetOffset))
	c.mu.Lock()
	c.st, c.cutting = st, false
	c.mu.Unlock()
	go c.recordInOldSource(st)
	c.wake()
	return &cutover.Kept{Path: st.Path, Cost: st.Cost, SourceOffset: st.SourceOffset, TargetReplID: st.TargetReplID, TargetOffset: st.TargetOffset}, nil
}

// Abandon implements cutover.Keeper.
func (c *Controller) Abandon() {
	c.mu.Lock()
	c.cutting = false
	c.mu.Unlock()
}

// resume runs phase again after a hand-over that failed.
func (c *Controller) resume(phase string) {
	c.mu.Lock()
	c.st.Phase, c.cutting = phase, false
	c.mu.Unlock()
	c.wake()
}

func (c *Controller) failed(err error) error {
	c.mu.Lock()
	c.lastErr = err.Error()
	c.mu.Unlock()
	c.log.Error("hand-over failed", zap.Error(err))
	return err
}

func (c *Controller) client(o server.ClientOptions) *redis.Client {
	o.PoolSize = 1
	return server.NewClient(o)
}

// recordInOldSource writes the cutover point, both offsets, next to the
// reverse link's checkpoint in the old source (checkpoint.CutoverKey), for
// whoever looks at the old source later; the reverse link's own checkpoint
// is what a restart continues from. The old source's writes are paused
// until the cutover's pause ends, so the write waits for it, in the
// background.
func (c *Controller) recordInOldSource(st State) {
	ctx, cancel := context.WithTimeout(context.Background(), cutover.MaxPause+30*time.Second)
	defer cancel()
	o := c.opt.Source
	o.PoolSize, o.IOTimeout = 1, cutover.MaxPause+20*time.Second
	src := server.NewClient(o)
	defer src.Close()
	mark, _ := json.Marshal(map[string]any{"source_replid": st.SourceReplID, "source_offset": st.SourceOffset,
		"target_replid": st.TargetReplID, "target_offset": st.TargetOffset, "path": st.Path, "at": st.CutoverAt})
	if err := src.Set(ctx, checkpoint.CutoverKey(c.opt.CheckpointKey), mark, 0).Err(); err != nil {
		c.log.Warn("could not record the cutover point in the old source (the reverse link's checkpoint there is unaffected)",
			zap.String("key", checkpoint.CutoverKey(c.opt.CheckpointKey)), zap.Error(err))
	}
}
