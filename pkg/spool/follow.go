package spool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
)

// ErrSnapshotAborted: the snapshot a follower reads was aborted before it
// was complete (the download broke off).
var ErrSnapshotAborted = errors.New("spool: the snapshot download was aborted")

// Follower states of the snapshot being written.
const (
	snapWriting = iota
	snapCommitted
	snapAborted
)

// SnapshotFollower reads the snapshot while it is being written, so that it
// can be applied during the download: Read blocks until more bytes reach
// the file, returns io.EOF once the snapshot is committed and read whole,
// and ErrSnapshotAborted if it was aborted.
type SnapshotFollower struct {
	w   *SnapshotWriter
	f   *os.File
	ctx context.Context
	pos int64
}

// Follow returns a reader of the snapshot being written; ctx ends its waits.
// The caller closes it.
func (w *SnapshotWriter) Follow(ctx context.Context) (*SnapshotFollower, error) {
	f, err := os.Open(w.f.Name())
	if err != nil {
		return nil, fmt.Errorf("spool: follow the snapshot: %w", err)
	}
	w.followed = true
	return &SnapshotFollower{w: w, f: f, ctx: ctx}, nil
}

// ReplID and Offset are those of the FULLRESYNC this snapshot belongs to.
func (r *SnapshotFollower) ReplID() string { return r.w.replid }
func (r *SnapshotFollower) Offset() int64  { return r.w.offset }

func (r *SnapshotFollower) Read(p []byte) (int, error) {
	for {
		flushed, state, changed := r.w.followState()
		if avail := flushed - r.pos; avail > 0 {
			n, err := r.f.ReadAt(p[:min(int64(len(p)), avail)], r.pos)
			r.pos += int64(n)
			if n > 0 {
				return n, nil
			}
			return 0, fmt.Errorf("spool: read the snapshot being written: %w", err)
		}
		switch state {
		case snapCommitted:
			return 0, io.EOF
		case snapAborted:
			return 0, ErrSnapshotAborted
		}
		select {
		case <-changed:
		case <-r.ctx.Done():
			return 0, r.ctx.Err()
		}
	}
}

// Rewind makes the next Read start again at the snapshot's first byte, for
// a replay that must redo keys it already read.
func (r *SnapshotFollower) Rewind() { r.pos = 0 }

// Complete reports whether the snapshot is committed (durable in the spool).
func (r *SnapshotFollower) Complete() bool {
	_, state, _ := r.w.followState()
	return state == snapCommitted
}

// Wait blocks until the snapshot is committed (nil) or aborted.
func (r *SnapshotFollower) Wait(ctx context.Context) error {
	for {
		_, state, changed := r.w.followState()
		switch state {
		case snapCommitted:
			return nil
		case snapAborted:
			return ErrSnapshotAborted
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close releases the follower's file.
func (r *SnapshotFollower) Close() error { return r.f.Close() }

// followState returns the bytes followers may read, the writer's state and a
// channel closed at the next change.
func (w *SnapshotWriter) followState() (int64, int, <-chan struct{}) {
	w.fmu.Lock()
	defer w.fmu.Unlock()
	if w.changed == nil {
		w.changed = make(chan struct{})
	}
	return w.flushed, w.state, w.changed
}

// setFollowState publishes progress to followers.
func (w *SnapshotWriter) setFollowState(flushed int64, state int) {
	w.fmu.Lock()
	defer w.fmu.Unlock()
	if flushed == w.flushed && state == w.state {
		return
	}
	w.flushed, w.state = flushed, state
	if w.changed != nil {
		close(w.changed)
		w.changed = nil
	}
}
