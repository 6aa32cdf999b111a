package spool

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"go.uber.org/zap"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// SnapshotInfo describes the committed snapshot (snapshot.json).
type SnapshotInfo struct {
	ReplID   string `json:"replid"`
	Offset   int64  `json:"offset"` // FULLRESYNC offset; the stream starts here
	Size     int64  `json:"size"`
	CRC32C   uint32 `json:"crc32c"` // of the snapshot bytes
	Complete bool   `json:"complete"`
}

// SnapshotWriter receives the snapshot of a full sync. Write it, then Commit
// or Abort. It is used from the writer goroutine only.
type SnapshotWriter struct {
	s      *Spool
	f      *os.File
	w      *bufio.Writer
	crc    hash.Hash32
	replid string
	offset int64
	n      int64
	err    error
	done   bool
	// followed: a follower applies the snapshot as it arrives, so bytes
	// reach the file every followFlush rather than every buffer (1 MiB).
	followed bool

	// What followers (Follow) may read: bytes in the file, and the state.
	fmu     sync.Mutex
	flushed int64
	state   int
	changed chan struct{}
}

func (s *Spool) snapPath() string { return filepath.Join(s.dir, snapshotFile) }
func (s *Spool) metaPath() string { return filepath.Join(s.dir, snapshotMeta) }

// NewSnapshot starts a new full sync: it discards the old snapshot and every
// stream segment (readers get ErrGone) and returns a writer for the new
// snapshot of replid at the FULLRESYNC offset. It clears a sticky write error.
func (s *Spool) NewSnapshot(replid string, offset int64) (*SnapshotWriter, error) {
	if offset < 0 {
		return nil, fmt.Errorf("spool: snapshot at negative offset %d", offset)
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.snapW != nil {
		return nil, ErrBusy
	}
	if err := s.clearErr(); err != nil {
		return nil, err
	}
	if err := s.removeSnapshotLocked(); err != nil {
		return nil, err
	}
	// Drop the stream; an empty one at offset until Commit records it on disk.
	if s.cur != nil {
		_ = s.cur.Close()
		s.cur = nil
	}
	s.buf = s.buf[:0]
	s.mu.Lock()
	old := s.segs
	s.segs, s.end, s.durable = nil, offset, offset
	s.broadcastLocked()
	s.mu.Unlock()
	for _, g := range old {
		if err := os.Remove(s.segPath(g.start)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("spool: remove %s: %w", s.segPath(g.start), err)
		}
	}
	if err := syncDir(s.streamPath); err != nil { // old segments must not come back
		return nil, err
	}
	tmp := s.snapPath() + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, ioErr("create", tmp, err)
	}
	w := &SnapshotWriter{s: s, f: f, w: bufio.NewWriterSize(f, 1<<20), crc: crc32.New(castagnoli), replid: replid, offset: offset}
	s.snapW = w
	s.snapSize.Store(0)
	s.log.Info("new snapshot", zap.String("replid", replid), zap.Int64("offset", offset))
	return w, nil
}

// Write appends snapshot bytes.
func (w *SnapshotWriter) Write(p []byte) (int, error) {
	if w.done {
		return 0, fmt.Errorf("spool: snapshot writer already committed or aborted")
	}
	if w.err != nil {
		return 0, w.err
	}
	n, err := w.w.Write(p)
	w.crc.Write(p[:n])
	w.n += int64(n)
	w.s.snapSize.Store(w.n)
	if err != nil {
		w.err = ioErr("write", w.f.Name(), err)
		return n, w.err
	}
	if w.followed && w.w.Buffered() >= followFlush {
		if err := w.w.Flush(); err != nil {
			w.err = ioErr("write", w.f.Name(), err)
			return n, w.err
		}
	}
	w.setFollowState(w.n-int64(w.w.Buffered()), snapWriting)
	return n, nil
}

// followFlush is how many bytes a followed snapshot buffers at most before
// they go to the file (a write into the page cache, no fsync): a shard of a
// cluster source holds a few MiB, which would otherwise reach its follower
// in two or three steps, most of it at the end.
const followFlush = 128 << 10

// Commit makes the snapshot durable (fsync, rename, fsync dir), writes its
// metadata atomically and starts the stream at the FULLRESYNC offset.
func (w *SnapshotWriter) Commit() error {
	s := w.s
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if w.done {
		return fmt.Errorf("spool: snapshot writer already committed or aborted")
	}
	if w.err != nil {
		_ = w.abortLocked()
		return w.err
	}
	tmp := w.f.Name()
	err := w.w.Flush()
	if err == nil {
		err = w.f.Sync()
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = w.abortLocked()
		return ioErr("commit", tmp, err)
	}
	if err := os.Rename(tmp, s.snapPath()); err != nil {
		_ = w.abortLocked()
		return fmt.Errorf("spool: rename %s: %w", tmp, err)
	}
	info := SnapshotInfo{ReplID: w.replid, Offset: w.offset, Size: w.n, CRC32C: w.crc.Sum32(), Complete: true}
	meta, _ := json.Marshal(info) // plain fields: cannot fail
	if err := writeAtomic(s.dir, snapshotMeta, append(meta, '\n')); err != nil {
		return err // writeAtomic fsyncs the dir, covering the rename above
	}
	w.done = true
	s.snapW = nil
	w.setFollowState(w.n, snapCommitted)
	s.mu.Lock()
	s.snap = &info
	s.snapSize.Store(0)
	s.mu.Unlock()
	if err := s.resetStreamLocked(w.offset); err != nil {
		return err
	}
	s.log.Info("snapshot committed", zap.Int64("bytes", w.n), zap.Int64("offset", w.offset))
	return nil
}

// Abort discards the snapshot being written.
func (w *SnapshotWriter) Abort() error {
	w.s.wmu.Lock()
	defer w.s.wmu.Unlock()
	if w.done {
		return nil
	}
	return w.abortLocked()
}

func (w *SnapshotWriter) abortLocked() error {
	w.done = true
	w.setFollowState(w.flushedBytes(), snapAborted)
	w.s.snapW = nil
	w.s.snapSize.Store(0)
	_ = w.f.Close()
	if err := os.Remove(w.f.Name()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("spool: remove %s: %w", w.f.Name(), err)
	}
	return nil
}

func (w *SnapshotWriter) flushedBytes() int64 {
	w.fmu.Lock()
	defer w.fmu.Unlock()
	return w.flushed
}

// Snapshot returns the committed snapshot, if any.
func (s *Spool) Snapshot() (SnapshotInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.snap == nil {
		return SnapshotInfo{}, false
	}
	return *s.snap, true
}

// OpenSnapshot opens the committed snapshot for reading (ErrNoSnapshot if
// there is none). The caller closes it.
func (s *Spool) OpenSnapshot() (*os.File, error) {
	if _, ok := s.Snapshot(); !ok {
		return nil, ErrNoSnapshot
	}
	f, err := os.Open(s.snapPath())
	if err != nil {
		return nil, fmt.Errorf("spool: open snapshot: %w", err)
	}
	return f, nil
}

// RemoveSnapshot deletes the committed snapshot once it is applied.
func (s *Spool) RemoveSnapshot() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.snapW != nil {
		return ErrBusy
	}
	return s.removeSnapshotLocked()
}

// removeSnapshotLocked removes the metadata first, so a crash never leaves
// metadata describing a missing or partial file.
func (s *Spool) removeSnapshotLocked() error {
	for _, p := range []string{s.metaPath(), s.snapPath()} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("spool: remove %s: %w", p, err)
		}
	}
	s.mu.Lock()
	s.snap = nil
	s.mu.Unlock()
	return syncDir(s.dir)
}

// recoverSnapshot adopts snapshot.rdb when snapshot.json describes it and
// the sizes match; anything else is removed. The CRC is not recomputed here
// (see VerifySnapshot).
func (s *Spool) recoverSnapshot() error {
	b, err := os.ReadFile(s.metaPath())
	if errors.Is(err, fs.ErrNotExist) {
		if _, err := os.Stat(s.snapPath()); err == nil {
			s.log.Warn("snapshot without metadata; removing it")
		}
		return s.removeSnapshotLocked()
	}
	if err != nil {
		return fmt.Errorf("spool: read %s: %w", s.metaPath(), err)
	}
	var info SnapshotInfo
	if err := json.Unmarshal(b, &info); err != nil || !info.Complete || info.Offset < 0 {
		s.log.Warn("bad snapshot metadata; removing the snapshot", zap.ByteString("meta", b), zap.Error(err))
		return s.removeSnapshotLocked()
	}
	fi, err := os.Stat(s.snapPath())
	if err != nil || fi.Size() != info.Size {
		s.log.Warn("snapshot file missing or of the wrong size; removing it", zap.Int64("want", info.Size), zap.Error(err))
		return s.removeSnapshotLocked()
	}
	s.snap = &info
	return nil
}

// VerifySnapshot reads the committed snapshot and checks its CRC-32C.
func (s *Spool) VerifySnapshot() error {
	info, ok := s.Snapshot()
	if !ok {
		return ErrNoSnapshot
	}
	f, err := s.OpenSnapshot()
	if err != nil {
		return err
	}
	defer f.Close()
	h := crc32.New(castagnoli)
	n, err := bufio.NewReaderSize(f, 1<<20).WriteTo(h)
	if err != nil {
		return fmt.Errorf("spool: read snapshot: %w", err)
	}
	if n != info.Size || h.Sum32() != info.CRC32C {
		return fmt.Errorf("%w: %d bytes crc32c %08x, metadata says %d bytes %08x",
			ErrBadSnapshot, n, h.Sum32(), info.Size, info.CRC32C)
	}
	return nil
}
