package sink

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/retry"
)

// Window applies batches with several of them in flight on a connection of
// its own: when the target finishes one transaction it finds the next one
// already in its socket. With Pipeline it idles instead while redferry
// reads the replies and writes the next batch, two scheduler wake-ups per
// batch that cost the rebuild of a snapshot a fifth of its time on a loaded
// 2-core machine.
//
// The price is Pipeline's guarantee: here a batch may be applied although an
// earlier one failed. A Window is therefore only for batches that the caller
// can redo from a known position, as the snapshot replay can (it rebuilds
// each key after deleting it). Outcomes come to each batch's done callback
// in batch order; the first failure stops the sending; once Wait returns no
// batch is left on the connection, and after Close nothing sent through the
// Window can still reach the target.
//
// Send is called by one goroutine; done callbacks run on another.
type Window struct {
	s          *Standalone
	c          *conn
	clientID   string // the connection's CLIENT ID, to fence it after a failure
	maxBatches int
	maxBytes   int

	writeq chan *flight
	readq  chan *flight
	exited chan struct{} // closed when the reader has seen every batch
	sent   atomic.Int64  // batches written whole to the connection

	mu       sync.Mutex
	changed  chan struct{} // closed (and replaced) when inflight drops or err is set
	inflight int
	bytes    int
	err      error    // the first failure: nothing more is sent
	broken   bool     // the connection failed: what it carried may still be in the target's socket
	spare    []*Batch // buffers of applied batches, for the next Sends
	spareCap int      // their capacity in bytes: at most maxBytes is kept
	closed   bool
}

type flight struct {
	b    *Batch
	size int
	done func(error)
	werr error // not written (or not wholly): the outcome without reading
}

// ErrNoFence: the target does not tell the connection's client id or does
// not let this user kill a client (CLIENT ID, CLIENT KILL), so a Window's
// connection could not be fenced after a failure.
var ErrNoFence = errors.New("sink: the target does not let this user fence a connection (CLIENT ID, CLIENT KILL)")

// noSuchClient is a client id no server reaches (ids count up from 1).
const noSuchClient = "9223372036854775807"

// ErrWindowFailed wraps the first failure of a Window, returned by the calls
// after it.
var ErrWindowFailed = errors.New("sink: a batch of the window failed")

// NewWindow opens a connection for a Window holding up to maxBatches
// batches and maxBytes bytes in flight (at least one batch, whatever its
// size).
func (s *Standalone) NewWindow(ctx context.Context, maxBatches, maxBytes int) (*Window, error) {
	c, err := dial(ctx, &s.cfg)
	if err != nil {
		return nil, err
	}
	w := &Window{s: s, c: c, maxBatches: max(maxBatches, 1), maxBytes: maxBytes, changed: make(chan struct{}),
		exited: make(chan struct{})}
	// Without its id, and the right to kill a client, the connection could
	// not be fenced after a failure. Killing an id far beyond any given out
	// only tells whether CLIENT KILL is allowed.
	r, err := c.do("CLIENT", "ID")
	if err == nil && r.Type != respInteger {
		err = fmt.Errorf("%w: CLIENT ID answered %q", ErrNoFence, r.Line)
	}
	if err == nil {
		w.clientID = string(r.Line)
		r, err = c.do("CLIENT", "KILL", "ID", noSuchClient)
		if err == nil && !killed(r) {
			err = fmt.Errorf("%w: CLIENT KILL ID %s answered %q", ErrNoFence, noSuchClient, r.Line)
		}
	}
	if err != nil {
		_ = c.close()
		return nil, fmt.Errorf("sink: window connection to %s: %w", s.cfg.Addr, err)
	}
	w.writeq = make(chan *flight, w.maxBatches)
	w.readq = make(chan *flight, w.maxBatches)
	go w.writeLoop()
	go w.readLoop()
	return w, nil
}

// Send waits for room in the window, then starts applying b and returns.
// Like Pipeline.Apply it takes b's contents and leaves b empty, with the
// buffers of an earlier batch for reuse. done (may be nil) gets b's outcome
// as Standalone.Apply would return it, except that a lost connection is an
// error too: the Window does not resend. After a failure Send returns it,
// wrapped in ErrWindowFailed, and sends nothing.
func (w *Window) Send(ctx context.Context, b *Batch, done func(error)) error {
	size := b.Size()
	for {
		w.mu.Lock()
		if w.err != nil {
			err := w.err
			w.mu.Unlock()
			return fmt.Errorf("%w: %w", ErrWindowFailed, err)
		}
		if w.inflight == 0 || w.inflight < w.maxBatches && w.bytes+size <= w.maxBytes {
			break
		}
		changed := w.changed
		w.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if b.Len() == 0 && b.Checkpoint == nil {
		w.mu.Unlock()
		if done != nil {
			done(nil)
		}
		return nil
	}
	w.inflight++
	w.bytes += size
	nb := &Batch{}
	if n := len(w.spare); n > 0 {
		nb, w.spare = w.spare[n-1], w.spare[:n-1]
		w.spareCap -= cap(nb.buf)
	}
	w.mu.Unlock()
	*nb, *b = *b, *nb
	b.Reset()
	w.writeq <- &flight{b: nb, size: size, done: done}
	return nil
}

// Wait waits until no batch is in flight (or ctx ends) and returns the
// first failure.
func (w *Window) Wait(ctx context.Context) error {
	for {
		w.mu.Lock()
		n, err, changed := w.inflight, w.err, w.changed
		w.mu.Unlock()
		if n == 0 {
			return err
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close waits for the batches in flight and closes the connection. If the
// connection failed, it first has the target drop it (CLIENT KILL over the
// Standalone's own connection): until then a transaction it carried could
// still sit unread in the target's socket and be applied later, after a
// redo of its keys.
func (w *Window) Close(ctx context.Context) error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.mu.Unlock()
	close(w.writeq)
	<-w.exited
	_ = w.c.close()
	w.mu.Lock()
	broken := w.broken
	w.mu.Unlock()
	if !broken {
		return nil
	}
	return w.s.killClient(ctx, w.clientID)
}

func (w *Window) writeLoop() {
	defer close(w.readq)
	for f := range w.writeq {
		w.mu.Lock()
		err := w.err
		w.mu.Unlock()
		if err != nil {
			f.werr = fmt.Errorf("%w: not sent: %w", ErrWindowFailed, err)
		} else if err = w.write(f.b); err != nil {
			f.werr = fmt.Errorf("sink: writing a batch to %s: %w", w.s.cfg.Addr, err)
			w.fail(f.werr, true)
		} else {
			w.sent.Add(1)
		}
		w.readq <- f
	}
}

// write sends b's transaction in one flush.
func (w *Window) write(b *Batch) error {
	w.c.writeDeadline()
	w.c.writeTx(b, w.s.cfg.CheckpointKey)
	return w.c.w.Flush()
}

func (w *Window) readLoop() {
	defer close(w.exited)
	for f := range w.readq {
		err := f.werr
		if err == nil {
			w.mu.Lock()
			broken := w.broken
			w.mu.Unlock()
			if broken {
				err = fmt.Errorf("%w: its outcome is unknown: the connection failed", ErrWindowFailed)
			} else {
				res, rerr := w.c.readTx(f.b, w.s.cfg.CheckpointKey, w.s.cfg.Addr)
				if rerr != nil {
					err = fmt.Errorf("sink: reading a batch's replies from %s: %w", w.s.cfg.Addr, rerr)
					w.fail(err, true)
				} else if err = w.s.outcome(f.b, res); err != nil {
					w.fail(err, false)
				}
			}
		}
		if f.done != nil {
			f.done(err)
		}
		f.b.Reset()
		w.mu.Lock()
		w.inflight--
		w.bytes -= f.size
		// Buffers are kept for reuse, one whatever its size (as Pipeline
		// reuses its two) and more up to maxBytes: each grew to the largest
		// batch it carried, and several big ones kept would double the memory.
		if c := cap(f.b.buf); len(w.spare) == 0 || w.spareCap+c <= w.maxBytes {
			w.spare = append(w.spare, f.b)
			w.spareCap += c
		}
		w.notifyLocked()
		w.mu.Unlock()
	}
}

// fail records the first failure; broken also closes the connection, so
// that the loops fail fast on what is left.
func (w *Window) fail(err error, broken bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = err
	}
	if broken && !w.broken {
		w.broken = true
		_ = w.c.close()
	}
	w.notifyLocked()
}

func (w *Window) notifyLocked() {
	close(w.changed)
	w.changed = make(chan struct{})
}

// outcome turns the replies of a batch into its result as Apply gives it,
// for a batch that is not retried: commands refused at queue time fail the
// batch (nothing of it applied); runtime errors are skipped with OnError
// "log", a *TargetError (Applied) otherwise.
func (s *Standalone) outcome(b *Batch, res sendResult) error {
	if res.ctlErr != "" {
		return fmt.Errorf("sink: target refused the batch frame (%s); nothing of the batch was applied", res.ctlErr)
	}
	if len(res.queueErrs) > 0 {
		s.stats.errors.Add(int64(len(res.queueErrs)))
		return firstTargetError(b, res.queueErrs, false)
	}
	s.stats.batches.Add(1)
	s.stats.applied.Add(int64(b.Len() - len(res.execErrs)))
	if len(res.execErrs) == 0 {
		return nil
	}
	s.stats.errors.Add(int64(len(res.execErrs)))
	if s.cfg.OnError == OnErrorStop {
		e := firstTargetError(b, res.execErrs, true)
		e.Rejected = rejectedCommands(b, res.execErrs)
		return e
	}
	s.stats.skipped.Add(int64(len(res.execErrs)))
	for _, i := range res.execErrs.sorted() {
		s.skip(newTargetError(b, i, res.execErrs[i], true))
	}
	return nil
}

// killClient has the target drop the client with this id; a client already
// gone is fine. A lost connection is retried, as in recoverBatch: the fault
// that broke the window's connection often broke this one too.
func (s *Standalone) killClient(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	bo := retry.Backoff{Initial: 50 * time.Millisecond, Max: 5 * time.Second}
	for {
		if err := s.ensureConn(ctx); err != nil {
			return fmt.Errorf("sink: fencing the failed window connection: %w", err)
		}
		r, err := s.conn.do("CLIENT", "KILL", "ID", id)
		if err == nil {
			if !killed(r) {
				return fmt.Errorf("sink: fencing the failed window connection (CLIENT KILL ID %s): %s", id, r.Line)
			}
			s.log.Info("fenced the failed window connection", zap.String("client_id", id),
				zap.Bool("was_gone", r.Type != respInteger || string(r.Line) == "0"))
			return nil
		}
		s.dropConn()
		if !retryable(err) || ctx.Err() != nil {
			return fmt.Errorf("sink: fencing the failed window connection (CLIENT KILL ID %s): %w", id, errors.Join(err, ctx.Err()))
		}
		wait := bo.Next()
		s.log.Warn("connection lost while fencing the failed window connection, retrying", zap.Duration("backoff", wait), zap.Error(err))
		if err := retry.Sleep(ctx, wait); err != nil {
			return fmt.Errorf("sink: fencing the failed window connection: %w", err)
		}
	}
}

// killed reports whether r is CLIENT KILL ID's answer when it did its job:
// the number of clients killed (0 when the client was gone already), or,
// on servers that answer so, "No such client".
func killed(r reply) bool {
	return r.Type == respInteger || r.isError() && strings.Contains(strings.ToLower(string(r.Line)), "no such client")
}
