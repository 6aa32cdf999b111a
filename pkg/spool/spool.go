// Package spool keeps what redferry receives from the source on disk before
// it is applied to the target: the RDB snapshot of a full sync and the
// replication stream that follows it. The source link writes; the applier
// reads at its own pace, so a slow target never stalls the source link.
//
// # Layout
//
//	<dir>/snapshot.rdb             the snapshot as received (snapshot.rdb.tmp while written)
//	<dir>/snapshot.json            its metadata: replid, FULLRESYNC offset, size, CRC-32C, complete
//	<dir>/stream/<N>.seg           raw replication stream bytes, N zero-padded to 20 digits
//	<dir>/LOCK                     flock held while a process has the spool open
//
// # Offsets
//
// Offsets are replication offsets as Redis counts them: an offset is the
// number of stream bytes received so far, as in INFO's master_repl_offset and
// REPLCONF ACK. The stream continues from a FULLRESYNC <replid> <offset> or a
// checkpointed offset, so a stream starting at S holds the bytes that take
// the offset from S to S+1, S+2, …
//
// A segment named N holds the bytes right after offset N: its k-th byte
// (k ≥ 1) brings the offset to N+k, and after its last byte the offset is
// N+size. Start() is the name of the oldest segment, End() the offset after
// the last byte appended, so End()-Start() bytes are spooled. A reader at
// offset O has applied everything up to O and reads the byte that makes O+1
// next; a restart continues with PSYNC <replid> <O+1>.
//
// # Durability
//
// Files are created and replaced tmp → fsync → rename → fsync dir. Stream
// bytes are durable once Sync returns; after a crash the segments' lengths on
// disk give End (a torn tail is cut with Truncate by whoever parses it). Each
// new segment is recorded in the directory by the next Sync; a finished
// segment is fsynced before the next one is created.
//
// # Concurrency
//
// One goroutine writes (NewSnapshot/SnapshotWriter, Append, Flush, Sync,
// ResetStream, Truncate); any number read (Reader), and Trim may be called
// from a reader's goroutine. All methods are safe to call concurrently.
package spool

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"
)

const (
	// DefaultSegmentBytes is the segment size when Options.SegmentBytes is 0.
	DefaultSegmentBytes = 64 << 20
	snapshotFile        = "snapshot.rdb"
	snapshotMeta        = "snapshot.json"
	streamDir           = "stream"
	segSuffix           = ".seg"
	writeBufBytes       = 256 << 10
)

var (
	// ErrGone: the requested offset is not (or no longer) in the spool.
	ErrGone = errors.New("spool: offset not in spool")
	// ErrClosed: the spool was closed.
	ErrClosed = errors.New("spool: closed")
	// ErrNoSnapshot: there is no committed snapshot.
	ErrNoSnapshot = errors.New("spool: no snapshot")
	// ErrDiskFull: a write failed with ENOSPC or EDQUOT.
	ErrDiskFull = errors.New("spool: disk full")
	// ErrNotWritable: the state directory cannot be created or written.
	ErrNotWritable = errors.New("spool: state directory not writable")
	// ErrBadSnapshot: the snapshot file does not match its metadata.
	ErrBadSnapshot = errors.New("spool: snapshot does not match its metadata")
	// ErrNoStream: Append before ResetStream or a committed snapshot set
	// where the stream starts.
	ErrNoStream = errors.New("spool: no stream position; call ResetStream or commit a snapshot first")
	// ErrLocked: another process has the spool open.
	ErrLocked = errors.New("spool: state directory in use")
	// ErrBusy: a snapshot is already being written.
	ErrBusy = errors.New("spool: snapshot write in progress")
)

// Options configure a Spool.
type Options struct {
	// SegmentBytes is the size at which a stream segment is closed and the
	// next one started (default 64 MiB).
	SegmentBytes int64
	// MaxBytes is the budget of bytes not yet applied (snapshot + stream after
	// the last Trim) at which Full reports true; 0 means no limit. The spool never refuses a write by itself.
	MaxBytes int64
	// Logger receives recovery and housekeeping messages (default: none).
	Logger *zap.Logger
}

// segment is one stream file. size counts the bytes written to the file
// (flushed), so it grows for the last segment only.
type segment struct {
	start, size int64
	id          uint64 // unique per file for readers' cached handles
}

func (g segment) end() int64 { return g.start + g.size }

// Spool is the on-disk snapshot and stream. See the package comment.
type Spool struct {
	dir, streamPath string
	opt             Options
	log             *zap.Logger
	lock            *os.File

	// wmu serialises the writer side: cur, buf, and the files.
	wmu      sync.Mutex
	cur      *os.File // last segment, open for append; nil when there is none
	buf      []byte   // appended bytes not yet written to cur
	dirDirty bool     // a segment was created since the stream dir was fsynced
	werr     error    // sticky write error
	snapW    *SnapshotWriter

	// mu guards the shared state below and the notify channel.
	mu       sync.Mutex
	closed   bool
	segs     []segment
	nextID   uint64
	end      int64 // offset after the last byte appended (buffered included)
	durable  int64
	snap     *SnapshotInfo
	notify   chan struct{} // closed and replaced when bytes become readable
	waiters  int           // readers blocked on notify
	snapSize atomic.Int64  // bytes of a snapshot being written
	// applied is the highest offset given to Trim: the bytes before it are
	// done, even while the segment holding them stays on disk.
	applied int64
	replID  string // of the spooled stream (replid.go)
}

// Open opens or creates the spool in dir and recovers its state from the
// files there: a snapshot counts only with its metadata and matching size;
// stream segments count up to the first gap; *.tmp files are removed.
func Open(dir string, opt Options) (*Spool, error) {
	if opt.SegmentBytes <= 0 {
		opt.SegmentBytes = DefaultSegmentBytes
	}
	if opt.MaxBytes < 0 {
		return nil, fmt.Errorf("spool: MaxBytes %d is negative", opt.MaxBytes)
	}
	if opt.Logger == nil {
		opt.Logger = zap.NewNop()
	}
	s := &Spool{
		dir: dir, streamPath: filepath.Join(dir, streamDir), opt: opt,
		log:    opt.Logger.With(zap.String("stage", "spool"), zap.String("dir", dir)),
		notify: make(chan struct{}),
	}
	if err := checkWritable(dir); err != nil {
		return nil, err
	}
	if err := checkWritable(s.streamPath); err != nil {
		return nil, err
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	s.lock = lock
	if err := s.recover(); err != nil {
		if lock != nil {
			_ = lock.Close()
		}
		return nil, err
	}
	s.log.Info("spool opened", zap.Int64("start", s.Start()), zap.Int64("end", s.end),
		zap.Bool("snapshot", s.snap != nil))
	return s, nil
}

func (s *Spool) recover() error {
	dir := s.dir
	for _, d := range []string{dir, s.streamPath} {
		if err := removeTmp(d); err != nil {
			return err
		}
	}
	if err := s.recoverSnapshot(); err != nil {
		return err
	}
	if err := s.recoverReplID(); err != nil {
		return err
	}
	return s.recoverStream()
}

func removeTmp(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("spool: list %s: %w", dir, err)
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".tmp") {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return fmt.Errorf("spool: remove stray %s: %w", e.Name(), err)
			}
		}
	}
	return nil
}

func segName(start int64) string { return fmt.Sprintf("%020d%s", start, segSuffix) }

func (s *Spool) segPath(start int64) string { return filepath.Join(s.streamPath, segName(start)) }

// recoverStream lists the segments, keeps the contiguous run from the oldest
// and opens the last one for append.
func (s *Spool) recoverStream() error {
	ents, err := os.ReadDir(s.streamPath)
	if err != nil {
		return fmt.Errorf("spool: list %s: %w", s.streamPath, err)
	}
	var segs []segment
	for _, e := range ents {
		name := e.Name()
		num, ok := strings.CutSuffix(name, segSuffix)
		if !ok || len(num) != 20 || !e.Type().IsRegular() {
			continue
		}
		start, err := strconv.ParseInt(num, 10, 64)
		if err != nil || start < 0 {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			return fmt.Errorf("spool: stat %s: %w", name, err)
		}
		segs = append(segs, segment{start: start, size: fi.Size()})
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].start < segs[j].start })
	// With a snapshot the stream began at its offset: older segments belong
	// to an earlier sync whose removal did not reach the disk.
	for s.snap != nil && len(segs) > 0 && segs[0].start < s.snap.Offset {
		s.log.Warn("removing a segment older than the snapshot", zap.Int64("segment", segs[0].start))
		if err := os.Remove(s.segPath(segs[0].start)); err != nil {
			return fmt.Errorf("spool: remove %s: %w", s.segPath(segs[0].start), err)
		}
		segs = segs[1:]
	}
	for i := 1; i < len(segs); i++ {
		if segs[i].start == segs[i-1].end() {
			continue
		}
		s.log.Warn("stream segments not contiguous; dropping the later ones",
			zap.Int64("expected", segs[i-1].end()), zap.Int64("found", segs[i].start),
			zap.Int("dropped", len(segs)-i))
		for _, g := range segs[i:] {
			if err := os.Remove(s.segPath(g.start)); err != nil {
				return fmt.Errorf("spool: remove %s: %w", s.segPath(g.start), err)
			}
		}
		segs = segs[:i]
		break
	}
	if len(segs) == 0 {
		if s.snap == nil {
			return nil // nothing spooled: Start = End = 0 until ResetStream or a snapshot
		}
		// Crash between the snapshot's metadata and its first segment.
		return s.resetStreamLocked(s.snap.Offset)
	}
	for i := range segs {
		s.nextID++
		segs[i].id = s.nextID
	}
	last := segs[len(segs)-1]
	f, err := os.OpenFile(s.segPath(last.start), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return ioErr("open", s.segPath(last.start), err)
	}
	s.segs, s.cur, s.end, s.durable = segs, f, last.end(), last.end()
	return nil
}

// Start is the oldest offset a reader can start from.
// HasStream reports whether the spool holds a stream position (set by
// ResetStream or a committed snapshot); a new spool has none.
func (s *Spool) HasStream() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.segs) > 0
}

func (s *Spool) Start() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.segs) == 0 {
		return s.end
	}
	return s.segs[0].start
}

// End is the offset after the last byte appended (flushed or not).
func (s *Spool) End() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.end
}

// Durable is the offset up to which the stream is fsynced.
func (s *Spool) Durable() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.durable
}

// Bytes is what the spool holds on disk: the snapshot (committed or being
// written) plus the stream bytes appended.
func (s *Spool) Bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.snapSize.Load()
	if s.snap != nil {
		n += s.snap.Size
	}
	if len(s.segs) > 0 {
		n += s.end - s.segs[0].start
	}
	return n
}

// Full reports whether the bytes not yet applied (the snapshot, and the
// stream after the offset last given to Trim) have reached Options.MaxBytes;
// the caller then stops reading the source until Trim or RemoveSnapshot
// frees space. Applied bytes do not count even while their segment is still
// on disk: the last segment is never removed, so counting it could hold a
// spool whose limit is below the segment size full for ever.
func (s *Spool) Full() bool {
	return s.opt.MaxBytes > 0 && s.Pending() >= s.opt.MaxBytes
}

// Pending is the number of spooled bytes not yet applied: the snapshot and
// the stream after the offset last given to Trim.
func (s *Spool) Pending() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.snapSize.Load()
	if s.snap != nil {
		n += s.snap.Size
	}
	if len(s.segs) > 0 {
		if from := max(s.segs[0].start, s.applied); from < s.end {
			n += s.end - from
		}
	}
	return n
}

// Dir is the state directory.
func (s *Spool) Dir() string { return s.dir }

// Close flushes and fsyncs the stream and closes files. Readers get ErrClosed.
func (s *Spool) Close() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	var errs []error
	if s.snapW != nil {
		errs = append(errs, s.snapW.abortLocked())
	}
	if s.cur != nil {
		errs = append(errs, s.syncLocked())
		errs = append(errs, s.cur.Close())
		s.cur = nil
	}
	if s.lock != nil {
		errs = append(errs, s.lock.Close())
		s.lock = nil
	}
	s.mu.Lock()
	s.closed = true
	close(s.notify)
	s.notify = make(chan struct{})
	s.mu.Unlock()
	return errors.Join(errs...)
}
