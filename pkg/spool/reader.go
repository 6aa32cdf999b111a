package spool

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
)

// Reader reads the stream from an offset onwards, waiting for appends at the
// end. A Reader is used by one goroutine at a time; Close it when done.
type Reader struct {
	s   *Spool
	pos int64
	f   *os.File // cached handle on the segment with id fid
	fid uint64
}

// NewReader returns a reader whose next byte is the one after offset from
// (Start() ≤ from ≤ End()), or ErrGone.
func (s *Spool) NewReader(from int64) (*Reader, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	start := s.end
	if len(s.segs) > 0 {
		start = s.segs[0].start
	}
	if from < start || from > s.end || len(s.segs) == 0 {
		return nil, fmt.Errorf("%w: reader at %d, spool holds [%d, %d]", ErrGone, from, start, s.end)
	}
	return &Reader{s: s, pos: from}, nil
}

// Offset is the offset after the last byte returned by Read.
func (r *Reader) Offset() int64 { return r.pos }

// Close releases the reader's file handle.
func (r *Reader) Close() error {
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	return err
}

// Read reads up to len(p) bytes at Offset(). It blocks until bytes past the
// offset are readable (appended and written to the file, not necessarily
// fsynced: a reader that reaches the buffered tail writes it out) or ctx ends, and returns as much as one segment holds; it crosses segments on the
// following calls. It returns ErrGone when the offset left the spool (Trim,
// ResetStream, NewSnapshot, Truncate) and ErrClosed after Close.
func (r *Reader) Read(ctx context.Context, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	s := r.s
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return 0, ErrClosed
		}
		i := sort.Search(len(s.segs), func(i int) bool { return s.segs[i].end() > r.pos })
		if i < len(s.segs) && s.segs[i].start <= r.pos {
			g := s.segs[i]
			if err := r.open(g); err != nil {
				s.mu.Unlock()
				return 0, err
			}
			s.mu.Unlock()
			n := min(int64(len(p)), g.end()-r.pos)
			m, err := r.f.ReadAt(p[:n], r.pos-g.start)
			r.pos += int64(m)
			if m > 0 {
				return m, nil
			}
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return 0, fmt.Errorf("spool: read %s at %d: %w", r.f.Name(), r.pos-g.start, err)
		}
		// Nothing readable at pos: wait if pos is the readable end of the stream.
		flushed := int64(-1)
		if len(s.segs) > 0 {
			flushed = s.segs[len(s.segs)-1].end()
		}
		if r.pos != flushed || (len(s.segs) > 0 && r.pos < s.segs[0].start) {
			start, end := int64(0), s.end
			if len(s.segs) > 0 {
				start = s.segs[0].start
			}
			s.mu.Unlock()
			return 0, fmt.Errorf("%w: reader at %d, spool holds [%d, %d]", ErrGone, r.pos, start, end)
		}
		if s.end > flushed {
			// Appended bytes sit in the writer's buffer: write them out
			// rather than wait for the writer's next call.
			s.mu.Unlock()
			if err := s.flushForReader(); err != nil {
				return 0, err
			}
			continue
		}
		ch := s.notify
		s.waiters++
		s.mu.Unlock()
		var err error
		select {
		case <-ch:
		case <-ctx.Done():
			err = ctx.Err()
		}
		s.mu.Lock()
		s.waiters--
		s.mu.Unlock()
		if err != nil {
			return 0, err
		}
	}
}

func (s *Spool) flushForReader() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.cur == nil {
		return nil
	}
	return s.flushLocked()
}

// open makes r.f a handle on g. Called with s.mu held, so that Trim cannot
// remove the file between lookup and open.
func (r *Reader) open(g segment) error {
	if r.f != nil && r.fid == g.id {
		return nil
	}
	if r.f != nil {
		_ = r.f.Close()
		r.f = nil
	}
	f, err := os.Open(r.s.segPath(g.start))
	if err != nil {
		return fmt.Errorf("spool: open segment: %w", err)
	}
	r.f, r.fid = f, g.id
	return nil
}

// WithContext returns an io.Reader reading r with ctx, for bufio and RESP
// readers. Its errors are Read's (ctx.Err() when ctx ends); it never returns io.EOF.
func (r *Reader) WithContext(ctx context.Context) io.Reader { return ctxReader{r, ctx} }

type ctxReader struct {
	r   *Reader
	ctx context.Context
}

func (c ctxReader) Read(p []byte) (int, error) { return c.r.Read(c.ctx, p) }
