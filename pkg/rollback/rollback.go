package rollback

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/checkpoint"
	"github.com/redferry/redferry/pkg/cutover"
	"github.com/redferry/redferry/pkg/server"
	"github.com/redferry/redferry/pkg/status"
)

// ErrNotReverse: a rollback asked for while no reverse link runs.
var ErrNotReverse = errors.New("no reverse link runs: a rollback needs a cutover made with --keep-rollback")

// DefaultPause is the target's write pause of a rollback when none is given.
const DefaultPause = 10 * time.Second

// Result is what a rollback reached.
type Result struct {
	// TargetOffset: the old source holds everything the target had up to
	// this offset of the target's stream, writes to the target paused.
	TargetOffset int64 `json:"target_offset"`
	// ResumeOffset is the old source's offset the forward sync resumes
	// after: past the reverse link's writes.
	ResumeOffset int64     `json:"forward_resume_offset"`
	Paused       bool      `json:"paused"`
	PauseMode    string    `json:"pause_mode,omitempty"`
	PauseEnds    time.Time `json:"pause_ends,omitzero"`
	Notes        []string  `json:"notes,omitempty"`
	Elapsed      float64   `json:"elapsed_seconds"`
}

// Rollback switches back to the old source: it pauses the target's writes
// (as a cutover pauses the source's), waits until the reverse link has
// applied the target's offset to the old source, stops the reverse link, and
// records in the old source where the forward sync resumes. Once it returns,
// clients may go back to the old source; the pause ends on its own.
func (c *Controller) Rollback(ctx context.Context, pause, timeout time.Duration) (Result, error) {
	if pause <= 0 {
		return Result{}, fmt.Errorf("%w: a rollback needs a pause of the target's writes: without it, writes made to the target after the reverse link stops would be in neither server", cutover.ErrBadInput)
	}
	if !c.busy.TryLock() {
		return Result{}, cutover.ErrBusy
	}
	defer c.busy.Unlock()
	c.mu.Lock()
	phase, revTr, running := c.st.Phase, c.revTr, c.cur != nil
	c.mu.Unlock()
	if phase != status.RollbackReverse || revTr == nil || !running {
		return Result{}, fmt.Errorf("%w (phase %s)", ErrNotReverse, phase)
	}
	start := time.Now()
	// The reverse link's cutover: lag zero, the target's writes paused,
	// the old source's applied offset == the target's.
	tgt := c.opt.Target
	tgt.PoolSize = 2
	co := cutover.NewWithClient(server.NewClient(tgt), revTr, c.log)
	defer co.Close()
	cr, err := co.Run(ctx, cutover.Options{Pause: pause, Timeout: timeout})
	if err != nil {
		return Result{}, fmt.Errorf("rollback: %w", err)
	}
	res := Result{TargetOffset: cr.Offset, Paused: cr.Paused, PauseMode: cr.PauseMode, PauseEnds: cr.PauseEnds, Notes: cr.Notes}
	// Past this point a client gone away must not leave a half-made rollback.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	stopped, err := c.stopLink()
	if !stopped {
		c.unpauseTarget(ctx, cr.PauseMode)
		return res, c.failed(errors.New("rollback: the reverse link is not running"))
	}
	if err != nil {
		c.unpauseTarget(ctx, cr.PauseMode)
		c.resume(status.RollbackReverse)
		return res, c.failed(fmt.Errorf("rollback: the reverse link had stopped: %w", err))
	}
	if applied := revTr.Applied(); applied < cr.Offset {
		c.unpauseTarget(ctx, cr.PauseMode)
		c.resume(status.RollbackReverse)
		return res, c.failed(fmt.Errorf("rollback: the reverse link stopped at the target's offset %d, before %d", applied, cr.Offset))
	}
	resume, note, err := c.markRolledBack(ctx)
	if note != "" {
		res.Notes = append(res.Notes, note)
	}
	if err != nil {
		c.unpauseTarget(ctx, cr.PauseMode)
		c.resume(status.RollbackReverse)
		return res, c.failed(err)
	}
	res.ResumeOffset = resume.Offset
	c.mu.Lock()
	st := c.st
	c.mu.Unlock()
	st.Phase, st.RolledBackAt, st.ResumeOffset, st.RolledBackAtTime = status.RollbackRolledBack, cr.Offset, resume.Offset, time.Now().UTC()
	if err := saveState(c.opt.StateDir, st); err != nil {
		// The mark in the old source holds what a forward sync needs; only
		// a restart of this redferry would run the reverse link again.
		c.log.Error("rolled back, but the rollback state could not be saved: remove "+stateFile+" from the state dir before restarting", zap.Error(err))
	}
	c.mu.Lock()
	c.st = st
	c.mu.Unlock()
	c.wake()
	res.Elapsed = time.Since(start).Seconds()
	c.log.Info("rolled back: the old source is current; switch clients back now", zap.Int64("target_offset", cr.Offset),
		zap.Int64("forward_resume_offset", resume.Offset), zap.String("source_replid", resume.ReplID))
	return res, nil
}

// unpauseTarget ends the target's pause early after a rollback that failed
// once the target was paused: clients go on writing to it, the reverse link
// copying them (6.2+; on older servers the pause runs out).
func (c *Controller) unpauseTarget(ctx context.Context, mode string) {
	if mode != "WRITE" {
		return
	}
	dst := c.client(c.opt.Target)
	defer dst.Close()
	if err := dst.Do(ctx, "CLIENT", "UNPAUSE").Err(); err != nil {
		c.log.Warn("cannot end the target's pause early: it ends on its own", zap.Error(err))
	}
}

// markRolledBack records in the old source where the forward sync resumes:
// its offset now, before the mark itself. Nothing but the reverse link wrote
// into the old source since the cutover, and the mark is written in db 0, so
// the forward sync resumes there in db 0 and copies only the mark (a key it
// ignores) and what clients write to the old source from now on.
// note says, when the forward sync cannot resume from it, that it will need
// a full sync, and why.
func (c *Controller) markRolledBack(ctx context.Context) (st checkpoint.State, note string, err error) {
	src := c.client(c.opt.Source)
	defer src.Close()
	info, err := server.Fetch(ctx, src)
	if err != nil {
		return st, "", fmt.Errorf("rollback: the old source %s: %w", c.opt.SourceName, err)
	}
	st = checkpoint.State{ReplID: info.MasterReplID, Offset: info.MasterReplOffset, Phase: checkpoint.PhaseStreaming, UpdatedAt: time.Now()}
	if err := st.Validate(); err != nil {
		return st, "", fmt.Errorf("rollback: the old source %s: %w", c.opt.SourceName, err)
	}
	c.mu.Lock()
	cutReplID := c.st.SourceReplID
	c.mu.Unlock()
	switch {
	case cutReplID != "" && st.ReplID != cutReplID:
		note = fmt.Sprintf("the old source's replication id changed since the cutover (%s, now %s: it restarted, or freed its backlog after "+
			"repl-backlog-ttl without replicas): the forward sync needs a full sync when it starts again", cutReplID, st.ReplID)
	case info.Fields["repl_backlog_active"] == "0":
		note = "the old source keeps no replication backlog: the forward sync needs a full sync when it starts again"
	}
	if note != "" {
		c.log.Warn(note)
	}
	if err := src.Set(ctx, checkpoint.RolledBackKey(c.opt.CheckpointKey), st.Marshal(), 0).Err(); err != nil {
		return st, note, fmt.Errorf("rollback: recording the forward sync's resume point in the old source %s: %w", c.opt.SourceName, err)
	}
	return st, note, nil
}
