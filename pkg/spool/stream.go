package spool

import (
	"fmt"
	"os"

	"go.uber.org/zap"
)

// broadcastLocked wakes blocked readers. Caller holds mu.
func (s *Spool) broadcastLocked() {
	close(s.notify)
	s.notify = make(chan struct{})
}

// clearErr drops a sticky write error before the stream is rebuilt from
// scratch (ResetStream, NewSnapshot).
func (s *Spool) clearErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.werr = nil
	return nil
}

func (s *Spool) writable() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	return s.werr
}

// ResetStream drops every segment and the stream continues at start: after a
// +CONTINUE when nothing usable is spooled. An empty segment named start is
// created so that a restart finds the position. Readers of the old stream get
// ErrGone. It clears a sticky write error.
func (s *Spool) ResetStream(start int64) error {
	if start < 0 {
		return fmt.Errorf("spool: reset stream at negative offset %d", start)
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.clearErr(); err != nil {
		return err
	}
	if s.snapW != nil {
		return ErrBusy
	}
	return s.resetStreamLocked(start)
}

// resetStreamLocked: caller holds wmu (or is Open).
func (s *Spool) resetStreamLocked(start int64) error {
	if s.cur != nil {
		_ = s.cur.Close()
		s.cur = nil
	}
	s.buf = s.buf[:0]
	s.mu.Lock()
	old := s.segs
	s.segs = nil
	s.end, s.durable = start, start
	s.applied = 0
	s.broadcastLocked()
	s.mu.Unlock()
	for _, g := range old {
		if err := os.Remove(s.segPath(g.start)); err != nil && !os.IsNotExist(err) {
			return s.fail(fmt.Errorf("spool: remove %s: %w", s.segPath(g.start), err))
		}
	}
	if err := s.newSegmentLocked(start); err != nil {
		return err
	}
	return s.syncLocked()
}

// fail records a sticky write error: the stream on disk no longer matches
// what was appended, so the writer must stop (the caller resyncs or restarts).
func (s *Spool) fail(err error) error {
	s.mu.Lock()
	if s.werr == nil {
		s.werr = err
	}
	s.mu.Unlock()
	return err
}

// newSegmentLocked creates the segment named start and makes it current.
// Caller holds wmu; the previous segment, if any, is closed already.
func (s *Spool) newSegmentLocked(start int64) error {
	p := s.segPath(start)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o644)
	if err != nil {
		return s.fail(ioErr("create", p, err))
	}
	s.cur, s.dirDirty = f, true
	s.mu.Lock()
	s.nextID++
	s.segs = append(s.segs, segment{start: start, id: s.nextID})
	s.mu.Unlock()
	return nil
}

// Append adds p at End(). Bytes are buffered (256 KiB) and written to the
// segment when the buffer fills, on Flush or Sync, when a reader waits at the
// end, or when a reader catches up with the buffered tail: readers never wait
// for bytes already appended. They are durable after Sync. A segment
// that reaches SegmentBytes is fsynced and closed, and the next one begins.
// A write error is sticky: later calls return it.
func (s *Spool) Append(p []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.writable(); err != nil {
		return err
	}
	if s.cur == nil {
		return ErrNoStream
	}
	for len(p) > 0 {
		s.mu.Lock()
		last := s.segs[len(s.segs)-1]
		end := s.end
		s.mu.Unlock()
		room := last.start + s.opt.SegmentBytes - end
		if room <= 0 {
			if err := s.rotateLocked(end); err != nil {
				return err
			}
			continue
		}
		n := int64(len(p))
		if n > room {
			n = room
		}
		chunk := p[:n]
		p = p[n:]
		if len(s.buf) == 0 && len(chunk) >= writeBufBytes {
			s.mu.Lock()
			s.end += n
			s.mu.Unlock()
			if err := s.writeLocked(chunk); err != nil {
				return err
			}
			continue
		}
		if s.buf == nil {
			s.buf = make([]byte, 0, writeBufBytes)
		}
		for len(chunk) > 0 {
			c := copy(s.buf[len(s.buf):cap(s.buf)], chunk)
			s.buf = s.buf[:len(s.buf)+c]
			chunk = chunk[c:]
			s.mu.Lock()
			s.end += int64(c)
			s.mu.Unlock()
			if len(s.buf) == cap(s.buf) {
				if err := s.flushLocked(); err != nil {
					return err
				}
			}
		}
	}
	// A reader waiting at the end gets the bytes now rather than at the next
	// Flush; a reader that lags behind lets them batch up.
	s.mu.Lock()
	waiting := s.waiters > 0
	s.mu.Unlock()
	if waiting {
		return s.flushLocked()
	}
	return nil
}

// writeLocked writes b to the current segment and publishes it to readers.
func (s *Spool) writeLocked(b []byte) error {
	if _, err := s.cur.Write(b); err != nil {
		return s.fail(ioErr("write", s.cur.Name(), err))
	}
	s.mu.Lock()
	s.segs[len(s.segs)-1].size += int64(len(b))
	s.broadcastLocked()
	s.mu.Unlock()
	return nil
}

func (s *Spool) flushLocked() error {
	if len(s.buf) == 0 {
		return nil
	}
	err := s.writeLocked(s.buf)
	s.buf = s.buf[:0]
	return err
}

// rotateLocked fsyncs and closes the full segment and starts one at end.
func (s *Spool) rotateLocked(end int64) error {
	if err := s.syncLocked(); err != nil {
		return err
	}
	name := s.cur.Name()
	if err := s.cur.Close(); err != nil {
		return s.fail(ioErr("close", name, err))
	}
	s.cur = nil
	return s.newSegmentLocked(end)
}

// Flush writes buffered bytes to the segment file so readers see them,
// without fsync. The source link calls it after each batch it receives.
func (s *Spool) Flush() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.writable(); err != nil {
		return err
	}
	if s.cur == nil {
		return nil
	}
	return s.flushLocked()
}

// Sync flushes and fsyncs the current segment (and the stream directory when
// a segment was created since the last Sync) and returns the durable end.
func (s *Spool) Sync() (int64, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.writable(); err != nil {
		return s.Durable(), err
	}
	if s.cur == nil {
		return s.Durable(), nil
	}
	err := s.syncLocked()
	return s.Durable(), err
}

func (s *Spool) syncLocked() error {
	if err := s.flushLocked(); err != nil {
		return err
	}
	if err := s.cur.Sync(); err != nil {
		return s.fail(ioErr("fsync", s.cur.Name(), err))
	}
	if s.dirDirty {
		if err := syncDir(s.streamPath); err != nil {
			return s.fail(err)
		}
		s.dirDirty = false
	}
	s.mu.Lock()
	s.durable = s.end
	s.mu.Unlock()
	return nil
}

// Trim deletes the segments whose bytes are all at or below applied (their
// end ≤ applied). The segment being written is never deleted.
func (s *Spool) Trim(applied int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	n := 0
	for n < len(s.segs)-1 && s.segs[n].end() <= applied {
		p := s.segPath(s.segs[n].start)
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			s.segs = s.segs[n:]
			return fmt.Errorf("spool: trim %s: %w", p, err)
		}
		n++
	}
	s.applied = max(s.applied, applied)
	if n > 0 {
		s.log.Debug("trimmed stream", zap.Int("segments", n), zap.Int64("applied", applied))
		s.segs = append([]segment(nil), s.segs[n:]...)
	}
	return nil
}

// Truncate drops the stream bytes after end (Start() ≤ end ≤ End()), e.g. a
// torn tail after an OS crash found by the parser. The result is fsynced.
// Readers positioned past end get ErrGone. A sticky write error is cleared,
// since the files again match the recorded state.
func (s *Spool) Truncate(end int64) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	closed, start, cur := s.closed, int64(0), s.end
	if len(s.segs) > 0 {
		start = s.segs[0].start
	}
	s.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if len(s.segs) == 0 || end < start || end > cur {
		return fmt.Errorf("%w: truncate at %d outside [%d, %d]", ErrGone, end, start, cur)
	}
	s.mu.Lock()
	flushed := s.segs[len(s.segs)-1].end()
	s.mu.Unlock()
	if end > flushed {
		if err := s.flushLocked(); err != nil {
			return err
		}
	}
	s.buf = s.buf[:0] // what is left is past end
	s.mu.Lock()
	defer s.mu.Unlock()
	keep := len(s.segs)
	for keep > 1 && s.segs[keep-1].start >= end {
		keep--
	}
	for _, g := range s.segs[keep:] {
		if err := os.Remove(s.segPath(g.start)); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("spool: truncate: remove %s: %w", s.segPath(g.start), err)
		}
	}
	lastSeg := &s.segs[keep-1]
	s.segs = s.segs[:keep]
	p := s.segPath(lastSeg.start)
	if s.cur != nil {
		_ = s.cur.Close()
		s.cur = nil
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return ioErr("open", p, err)
	}
	if err := f.Truncate(end - lastSeg.start); err != nil {
		_ = f.Close()
		return ioErr("truncate", p, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return ioErr("fsync", p, err)
	}
	if err := syncDir(s.streamPath); err != nil {
		_ = f.Close()
		return err
	}
	// A new id: readers must not reuse a handle on a removed or cut file.
	s.nextID++
	lastSeg.size, lastSeg.id = end-lastSeg.start, s.nextID
	s.cur, s.end, s.durable, s.werr = f, end, end, nil
	s.broadcastLocked()
	s.log.Warn("stream truncated", zap.Int64("end", end), zap.Int64("was", cur))
	return nil
}
