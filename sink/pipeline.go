package sink

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Pipeline applies batches in the background so that the caller builds the
// next batch (decoding, rebuilding, translating) while the target executes
// the previous one: the two CPUs work side by side instead of in turn.
//
// Batches still reach the target strictly one after the other: batch N+1 is
// written only once batch N's replies are read. That keeps every guarantee
// of Apply (a batch refused at queue time is retried without its refused
// commands or stops the sync before anything after it is applied; a lost
// connection is resolved through the checkpoint key) — with more than one
// transaction on the wire, a refused batch could be overtaken by the next.
//
// A Pipeline is used by one goroutine; done callbacks run on another.
type Pipeline struct {
	s batchApplier

	mu     sync.Mutex
	err    error         // first failure: the pipeline sends nothing more
	idle   chan struct{} // closed when no batch is in flight
	flying *Batch        // the batch applied last (or being applied)
}

// batchApplier is the sink a Pipeline writes through.
type batchApplier interface {
	Apply(ctx context.Context, b *Batch) error
}

// ErrPipelineFailed wraps the error of an earlier batch, returned by the
// calls after it.
var ErrPipelineFailed = errors.New("sink: an earlier batch failed")

// NewPipeline returns a Pipeline writing through s.
func (s *Standalone) NewPipeline() *Pipeline { return newPipeline(s) }

func newPipeline(s batchApplier) *Pipeline {
	idle := make(chan struct{})
	close(idle)
	return &Pipeline{s: s, idle: idle, flying: &Batch{}}
}

// Apply waits for the batch in flight, then starts applying b and returns
// at once. It takes b's contents and leaves b empty (as after Reset, with
// the buffers of an earlier batch for reuse), so the caller refills b while
// the target executes it: no copy, and at most two batches in memory. done
// (may be nil) gets b's outcome, as Standalone.Apply would return it, before
// the next batch is written; an error also comes back from the next Apply or
// Wait (wrapped in ErrPipelineFailed), and nothing is sent after it.
func (p *Pipeline) Apply(ctx context.Context, b *Batch, done func(error)) error {
	if err := p.Wait(ctx); err != nil {
		return err
	}
	if b.Len() == 0 && b.Checkpoint == nil {
		if done != nil {
			done(nil)
		}
		return nil
	}
	// The batch flown last is done: its buffers go back to the caller.
	nb := p.flying
	*nb, *b = *b, *nb
	b.Reset()
	idle := make(chan struct{})
	p.mu.Lock()
	p.idle = idle
	p.mu.Unlock()
	go func() {
		err := p.s.Apply(ctx, nb)
		if done != nil {
			done(err)
		}
		p.mu.Lock()
		if err != nil && p.err == nil {
			p.err = err
		}
		p.mu.Unlock()
		close(idle)
	}()
	return nil
}

// Wait waits until no batch is in flight and returns the first failure.
func (p *Pipeline) Wait(ctx context.Context) error {
	p.mu.Lock()
	idle := p.idle
	p.mu.Unlock()
	select {
	case <-idle:
	case <-ctx.Done():
		// The batch goroutine finishes by itself (Apply is bounded by its
		// context and IOTimeout); its outcome is then in the checkpoint.
		return ctx.Err()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return fmt.Errorf("%w: %w", ErrPipelineFailed, p.err)
	}
	return nil
}
