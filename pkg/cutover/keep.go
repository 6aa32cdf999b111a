package cutover

import (
	"context"
	"fmt"
)

// Keeper makes a cutover rollback-ready (Options.KeepRollback): it prepares
// the target's replication backlog before the pause, then stops the forward
// sync at the cutover point and starts the reverse link (target → old
// source). The rollback controller (pkg/rollback) implements it.
type Keeper interface {
	// Check refuses a cutover while the forward sync does not run (the
	// reverse link runs instead), and with keep a rollback-ready cutover
	// this sync cannot do (a filter, a file checkpoint).
	Check(keep bool) error
	// Prepare runs once the lag is zero, before the pause: it makes sure the
	// target has a replication backlog, so the reverse link can start at the
	// cutover offset without a full sync.
	Prepare(ctx context.Context) error
	// Keep runs once the target holds the source's offset sourceOffset,
	// writes still paused: it stops the forward sync and starts the reverse
	// link at the target's offset. On an error the forward sync runs again.
	Keep(ctx context.Context, sourceOffset int64) (*Kept, error)
	// Abandon: the cutover failed after Prepare, before Keep; the forward
	// sync goes on.
	Abandon()
}

// Kept is the reverse link a rollback-ready cutover prepared.
type Kept struct {
	// Path: "existing-backlog" (the target had one, it has replicas) or
	// "created-backlog" (redferry made one before the pause); Cost says what
	// that took.
	Path string `json:"path"`
	Cost string `json:"cost"`
	// The forward sync stopped at SourceOffset of the old source; the
	// reverse link applies what the target receives after TargetOffset.
	SourceOffset int64  `json:"source_offset"`
	TargetReplID string `json:"target_replid"`
	TargetOffset int64  `json:"target_offset"`
}

// SetKeeper lets cutovers of this sync keep a rollback.
func (c *Cutover) SetKeeper(k Keeper) { c.keeper = k }

// checkKeep refuses a cutover the keeper says cannot be done, and a
// rollback-ready one without a keeper or a pause.
func (c *Cutover) checkKeep(opt Options) error {
	if !opt.KeepRollback {
		if c.keeper != nil {
			if err := c.keeper.Check(false); err != nil {
				return fmt.Errorf("%w: %w", ErrBadInput, err)
			}
		}
		return nil
	}
	if c.keeper == nil {
		return fmt.Errorf("%w: this sync cannot keep a rollback", ErrBadInput)
	}
	if opt.Pause <= 0 {
		return fmt.Errorf("%w: --keep-rollback needs --pause: without it, writes made to the source after the forward sync stops would be in neither server", ErrBadInput)
	}
	if err := c.keeper.Check(true); err != nil {
		return fmt.Errorf("%w: %w", ErrBadInput, err)
	}
	return nil
}
