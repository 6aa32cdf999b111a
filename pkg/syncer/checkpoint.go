package syncer

import (
	"context"
	"fmt"

	"github.com/redferry/redferry/pkg/checkpoint"
	"github.com/redferry/redferry/sink"
)

// checkpointStore records the applied position. The target store writes it
// inside each batch's MULTI/EXEC (exactly-once); the file store writes it
// after each batch is applied (at-least-once).
type checkpointStore interface {
	Load(ctx context.Context) (checkpoint.State, bool, error)
	// Attach puts st into b when the store commits with the batch itself.
	Attach(b *sink.Batch, st checkpoint.State)
	// Committed records st once b is applied, when the store is separate.
	Committed(ctx context.Context, st checkpoint.State) error
	// Record writes st now, by itself: in its own MULTI/EXEC (target) or
	// file. For what is known only after a batch: a rejected command.
	Record(ctx context.Context, st checkpoint.State) error
	// RecordAhead makes st durable no later than b: in b's transaction
	// (target) or before b is sent (file).
	RecordAhead(ctx context.Context, b *sink.Batch, st checkpoint.State) error
	// Reset forgets the position (before a new full sync).
	Reset(ctx context.Context) error
	// LowerStream lowers every stream offset recorded past fork down to
	// fork (fork.go: the source's history forked there, and only PINGs and
	// REPLCONFs lie past it). Idempotent.
	LowerStream(ctx context.Context, fork int64) error
}

type targetStore struct{ sink sink.Writer }

func (t *targetStore) Load(ctx context.Context) (checkpoint.State, bool, error) {
	b, err := t.sink.LoadCheckpoint(ctx)
	if err != nil {
		return checkpoint.State{}, false, fmt.Errorf("reading the checkpoint from the target: %w", err)
	}
	if b == nil {
		return checkpoint.State{}, false, nil
	}
	st, err := checkpoint.Unmarshal(b)
	if err != nil {
		return checkpoint.State{}, false, fmt.Errorf("the checkpoint key in the target: %w (delete it to start a new full sync)", err)
	}
	return st, true, nil
}

func (t *targetStore) Attach(b *sink.Batch, st checkpoint.State) { b.Checkpoint = st.Marshal() }

func (t *targetStore) Committed(context.Context, checkpoint.State) error { return nil }

func (t *targetStore) Record(ctx context.Context, st checkpoint.State) error {
	if err := t.sink.ApplyStrict(ctx, &sink.Batch{Checkpoint: st.Marshal()}); err != nil {
		return fmt.Errorf("writing the checkpoint to the target: %w", err)
	}
	return nil
}

func (t *targetStore) RecordAhead(_ context.Context, b *sink.Batch, st checkpoint.State) error {
	t.Attach(b, st)
	return nil
}

// Reset: the flush before a new full sync removed the key already.
func (t *targetStore) Reset(context.Context) error { return nil }

// LowerStream: the checkpoint key, or every mark of a cluster target.
func (t *targetStore) LowerStream(ctx context.Context, fork int64) error {
	if err := t.sink.LowerStreamPositions(ctx, fork); err != nil {
		return fmt.Errorf("lowering the checkpoint in the target to the source's fork at offset %d: %w", fork, err)
	}
	return nil
}

type fileStore struct{ *checkpoint.FileStore }

func (f fileStore) Attach(*sink.Batch, checkpoint.State) {}

func (f fileStore) Committed(ctx context.Context, st checkpoint.State) error { return f.Save(ctx, st) }

func (f fileStore) Record(ctx context.Context, st checkpoint.State) error { return f.Save(ctx, st) }

func (f fileStore) RecordAhead(ctx context.Context, _ *sink.Batch, st checkpoint.State) error {
	return f.Save(ctx, st)
}

func (f fileStore) Reset(context.Context) error { return removeFile(f.Path()) }

func (f fileStore) LowerStream(ctx context.Context, fork int64) error {
	st, ok, err := f.Load(ctx)
	if err != nil || !ok {
		return err
	}
	low, lowered, err := st.LowerStream(fork)
	if err != nil || !lowered {
		return err
	}
	if err := f.Save(ctx, low); err != nil {
		return fmt.Errorf("lowering the checkpoint file to the source's fork at offset %d: %w", fork, err)
	}
	return nil
}
