package syncer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/checkpoint"
	"github.com/redferry/redferry/sink"
)

// The snapshot replay keeps several batches in flight on one target
// connection (sink.Window), so the target never waits for redferry between
// two of them. The stream is still applied one batch at a time: its
// commands are not idempotent, and a batch must never land after one that
// failed.
//
// The snapshot can afford it because a resumed replay deletes each key
// before rebuilding it. What must stay exact is the checkpoint: the
// position below which every key is applied. A batch therefore carries the
// low-water mark — the end of the batches already confirmed applied when it
// is sent, all of them, in order — not its own end. The checkpoint lags the
// target by the batches in flight; a restart (after a kill, say) redoes
// those keys, each deleted first. When a batch of the window fails in any
// way (a refused command, a lost connection, a rejected command), the
// window is drained and closed — its connection fenced if it broke — and
// the replay goes back to the low-water mark and continues one batch at a
// time from there, where Standalone.Apply handles each failure as it does
// for the stream.

const (
	// defaultSnapshotWindow batches in flight: with the default batch of
	// 2000 commands, enough that the target always has the next one.
	defaultSnapshotWindow = 4
	// windowBytesFactor × batch-bytes is the most the window holds in
	// flight (always at least one batch): a big key's batches (up to twice
	// batch-bytes) go one at a time, so memory stays about as it was.
	windowBytesFactor = 1
)

// snapshotWindow is a sink.Window with the low-water mark of the replay.
type snapshotWindow struct {
	a   *applier
	win *sink.Window

	mu        sync.Mutex
	confirmed int64 // every key before this snapshot byte is applied
	failed    bool  // a batch failed: the batches after it do not move confirmed
}

// errWindowFailed: a batch of the window failed; the replay continues from
// the window's low-water mark, one batch at a time.
var errWindowFailed = errors.New("a batch of the snapshot window failed")

// openSnapshotWindow returns the window for a replay from byte from, or nil
// when the replay goes one batch at a time (configured so, or the target
// cannot fence a connection).
func (a *applier) openSnapshotWindow(ctx context.Context, from int64) (*snapshotWindow, error) {
	depth := a.s.opt.SnapshotWindow
	if depth == 0 {
		depth = defaultSnapshotWindow
	}
	st, standalone := a.s.target.(*sink.Standalone)
	if depth <= 1 || !standalone { // a cluster target writes its masters in parallel already
		return nil, nil
	}
	// The batch before (the replay's first checkpoint) went on the other
	// connection: it lands first.
	if err := a.wait(ctx); err != nil {
		return nil, err
	}
	win, err := st.NewWindow(ctx, depth, windowBytesFactor*a.s.opt.BatchBytes)
	if errors.Is(err, sink.ErrNoFence) {
		a.log.Info("applying the snapshot one batch at a time: with several in flight a failed connection must be "+
			"fenced, which needs CLIENT ID and CLIENT KILL on the target (+client|id +client|kill)", zap.Error(err))
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	a.log.Info("applying the snapshot with several batches in flight", zap.Int("batches", depth),
		zap.Int("bytes", windowBytesFactor*a.s.opt.BatchBytes), zap.Int64("from", from))
	return &snapshotWindow{a: a, win: win, confirmed: from}, nil
}

func (w *snapshotWindow) lowWater() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.confirmed
}

// send applies b as the batch that completes every key before resumeAt,
// with st (its replication id, offset, phase) and the low-water mark as
// its checkpoint.
func (w *snapshotWindow) send(ctx context.Context, b *sink.Batch, st checkpoint.State, resumeAt int64) error {
	a := w.a
	if err := a.asyncErr(); err != nil {
		return err
	}
	// The rate limits pace the window's batches as the stream's; a
	// stopping sync sends its last batch without waiting.
	_ = a.s.opt.Limits.Wait(ctx, b.Len(), b.Size())
	st.SnapshotPos = w.lowWater()
	st.UpdatedAt = time.Now()
	a.s.store.Attach(b, st)
	n := b.Len()
	err := w.win.Send(ctx, b, func(err error) {
		// Outcomes come in batch order: unless one failed, every batch
		// before this one applied. After a failure the batches behind it
		// may apply too, but the keys of the failed one are missing.
		w.mu.Lock()
		if err != nil {
			w.failed = true
		}
		advance := !w.failed
		if advance {
			w.confirmed = resumeAt
		}
		w.mu.Unlock()
		if !advance {
			return // the window reports the failure; the replay goes back to the low-water mark
		}
		exact := st
		exact.SnapshotPos = resumeAt
		if err := a.s.store.Committed(context.WithoutCancel(ctx), exact); err != nil {
			a.setAsyncErr(fmt.Errorf("saving the checkpoint: %w", err))
			return
		}
		a.s.tracker.AddCommands(int64(n))
	})
	if errors.Is(err, sink.ErrWindowFailed) {
		return fmt.Errorf("%w: %w", errWindowFailed, err)
	}
	return err
}

// close drains the window, closes it and returns errWindowFailed (wrapping
// what failed) if a batch of it failed, another error if its failed
// connection could not be fenced. Its batches have all landed or
// failed when it returns, even when ctx has ended (which only cuts short
// the fencing of a failed connection, an error then).
func (w *snapshotWindow) close(ctx context.Context) error {
	werr := w.win.Wait(context.WithoutCancel(ctx))
	if err := w.win.Close(ctx); err != nil {
		// The failed connection could not be fenced: a transaction of it may
		// still land, so redoing its keys now could apply them twice.
		return fmt.Errorf("%w; stopping so that a restart resumes from the checkpoint", err)
	}
	if werr != nil {
		return fmt.Errorf("%w: %w", errWindowFailed, werr)
	}
	return nil
}
