package spool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestRolloverAndRead(t *testing.T) {
	tests := []struct {
		name             string
		segBytes         int64
		start            int64
		total, appendSz  int
		readSz, wantSegs int
	}{
		{"one byte appends", 100, 0, 1000, 1, 7, 10},
		{"appends span segments", 100, 1000, 1000, 333, 64, 10},
		{"exact segment appends", 100, 5, 1000, 100, 1 << 20, 10},
		{"big direct writes", 300 << 10, 7, 1 << 20, 512 << 10, 1000, 4},
		{"default segment", 0, 42, 3 << 20, 100000, 1 << 16, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := open(t, dir, Options{SegmentBytes: tc.segBytes})
			defer s.Close()
			if err := s.ResetStream(tc.start); err != nil {
				t.Fatal(err)
			}
			data := randBytes(1, tc.total)
			for p := data; len(p) > 0; {
				n := min(tc.appendSz, len(p))
				mustAppend(t, s, p[:n])
				p = p[n:]
			}
			if err := s.Flush(); err != nil {
				t.Fatal(err)
			}
			if s.Start() != tc.start || s.End() != tc.start+int64(tc.total) {
				t.Fatalf("start %d end %d", s.Start(), s.End())
			}
			names := segNames(t, dir)
			if len(names) != tc.wantSegs {
				t.Fatalf("segments %v, want %d", names, tc.wantSegs)
			}
			if names[0] != segName(tc.start) {
				t.Fatalf("first segment %s", names[0])
			}
			r, err := s.NewReader(tc.start)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if got := readN(t, r, tc.total, tc.readSz); !bytes.Equal(got, data) {
				t.Fatal("data differs")
			}
			// From the middle, crossing the rest.
			mid := tc.start + int64(tc.total)/2 + 1
			r2, err := s.NewReader(mid)
			if err != nil {
				t.Fatal(err)
			}
			defer r2.Close()
			rest := int(s.End() - mid)
			if got := readN(t, r2, rest, tc.readSz); !bytes.Equal(got, data[tc.total-rest:]) {
				t.Fatal("data from the middle differs")
			}
			if d, err := s.Sync(); err != nil || d != s.End() {
				t.Fatalf("sync: %d %v", d, err)
			}
		})
	}
}

func TestReaderWaitsForAppend(t *testing.T) {
	s := open(t, t.TempDir(), Options{SegmentBytes: 16})
	defer s.Close()
	if err := s.ResetStream(10); err != nil {
		t.Fatal(err)
	}
	r, err := s.NewReader(10)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := make(chan string)
	go func() {
		buf := make([]byte, 64)
		n, err := r.Read(context.Background(), buf)
		got <- fmt.Sprint(string(buf[:n]), err)
	}()
	select {
	case g := <-got:
		t.Fatalf("read returned before any append: %q", g)
	case <-time.After(50 * time.Millisecond):
	}
	mustAppend(t, s, []byte("hello")) // no Flush: a waiting reader gets it
	if g := <-got; g != "hello<nil>" {
		t.Fatalf("got %q", g)
	}
	// Bytes buffered while nobody waits are read without a Flush too.
	mustAppend(t, s, []byte("buffered"))
	if b := readN(t, r, 8, 64); string(b) != "buffered" {
		t.Fatalf("got %q", b)
	}

	// Blocked at a segment boundary: wakes when the next segment gets bytes.
	mustAppend(t, s, []byte("012")) // fills segment 10..26
	if b := readN(t, r, 3, 64); string(b) != "012" {
		t.Fatalf("got %q", b)
	}
	go func() {
		buf := make([]byte, 64)
		n, err := r.Read(context.Background(), buf)
		got <- fmt.Sprint(string(buf[:n]), err)
	}()
	time.Sleep(20 * time.Millisecond)
	mustAppend(t, s, []byte("next"))
	if g := <-got; g != "next<nil>" {
		t.Fatalf("got %q", g)
	}

	// Context cancel ends a blocked read.
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		_, err := r.WithContext(ctx).Read(make([]byte, 8))
		got <- fmt.Sprint(err)
	}()
	time.Sleep(20 * time.Millisecond)
	cancel()
	if g := <-got; g != context.Canceled.Error() {
		t.Fatalf("got %q", g)
	}

	// Close ends a blocked read.
	go func() {
		_, err := r.Read(context.Background(), make([]byte, 8))
		got <- fmt.Sprint(err)
	}()
	time.Sleep(20 * time.Millisecond)
	s.Close()
	if g := <-got; g != ErrClosed.Error() {
		t.Fatalf("got %q", g)
	}
}

func TestReopenAfterCrash(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{SegmentBytes: 100})
	snap := randBytes(2, 5000)
	writeSnapshot(t, s, 777, snap)
	data := randBytes(3, 450)
	mustAppend(t, s, data[:300])
	if _, err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, data[300:])
	if err := s.Flush(); err != nil { // written, not fsynced: still on disk after kill -9
		t.Fatal(err)
	}
	mustAppend(t, s, []byte("lost")) // buffered only: lost in the crash
	// Leftovers of an interrupted run.
	os.WriteFile(filepath.Join(dir, "snapshot.rdb.tmp"), []byte("partial"), 0o644)
	os.WriteFile(filepath.Join(dir, "stream", "junk.tmp"), []byte("x"), 0o644)
	crash(s) // the process dies: no flush, no fsync, no cleanup

	s2 := open(t, dir, Options{SegmentBytes: 100})
	defer s2.Close()
	if s2.Start() != 777 || s2.End() != 777+450 || s2.Durable() != 777+450 {
		t.Fatalf("start %d end %d durable %d", s2.Start(), s2.End(), s2.Durable())
	}
	info, ok := s2.Snapshot()
	if !ok || info.ReplID != rid || info.Offset != 777 || info.Size != 5000 || !info.Complete {
		t.Fatalf("snapshot %+v %v", info, ok)
	}
	if err := s2.VerifySnapshot(); err != nil {
		t.Fatal(err)
	}
	f, err := s2.OpenSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	got, _ := readAll(f)
	if !bytes.Equal(got, snap) {
		t.Fatal("snapshot differs")
	}
	for _, p := range []string{"snapshot.rdb.tmp", "stream/junk.tmp"} {
		if _, err := os.Stat(filepath.Join(dir, p)); !os.IsNotExist(err) {
			t.Fatalf("%s not removed: %v", p, err)
		}
	}
	r, err := s2.NewReader(777)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got := readN(t, r, 450, 1000); !bytes.Equal(got, data) {
		t.Fatal("stream differs")
	}
	// Appending continues in the last segment.
	mustAppend(t, s2, []byte("more"))
	s2.Flush()
	if got := readN(t, r, 4, 10); string(got) != "more" {
		t.Fatalf("got %q", got)
	}
}

func readAll(f *os.File) ([]byte, error) {
	defer f.Close()
	var b bytes.Buffer
	_, err := b.ReadFrom(f)
	return b.Bytes(), err
}

func TestRecoverBadState(t *testing.T) {
	tests := []struct {
		name       string
		setup      func(t *testing.T, dir string)
		snapshot   bool
		start, end int64
	}{
		{"empty dir", func(*testing.T, string) {}, false, 0, 0},
		{"snapshot without meta", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, snapshotMeta))
		}, false, 100, 130},
		{"snapshot of wrong size", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, snapshotFile), []byte("short"), 0o644)
		}, false, 100, 130},
		{"garbage meta", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, snapshotMeta), []byte("{"), 0o644)
		}, false, 100, 130},
		{"meta but no segments", func(t *testing.T, dir string) {
			os.RemoveAll(filepath.Join(dir, streamDir))
		}, true, 100, 100},
		{"gap between segments", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, streamDir, segName(110)))
		}, true, 100, 110},
		{"segments of an older sync", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, streamDir, segName(0)), make([]byte, 100), 0o644)
		}, true, 100, 130},
		{"short middle segment", func(t *testing.T, dir string) {
			os.Truncate(filepath.Join(dir, streamDir, segName(110)), 5)
		}, true, 100, 115},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.name != "empty dir" {
				s := open(t, dir, Options{SegmentBytes: 10})
				writeSnapshot(t, s, 100, []byte("REDIS0011"))
				mustAppend(t, s, randBytes(4, 30))
				s.Close()
			}
			tc.setup(t, dir)
			s := open(t, dir, Options{SegmentBytes: 10})
			defer s.Close()
			if _, ok := s.Snapshot(); ok != tc.snapshot {
				t.Fatalf("snapshot present = %v", ok)
			}
			if s.Start() != tc.start || s.End() != tc.end {
				t.Fatalf("start %d end %d, want %d %d", s.Start(), s.End(), tc.start, tc.end)
			}
			if !tc.snapshot {
				if _, err := os.Stat(filepath.Join(dir, snapshotFile)); !os.IsNotExist(err) {
					t.Fatalf("stale snapshot kept: %v", err)
				}
			}
		})
	}
}

func TestNewSnapshotDiscardsStream(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{SegmentBytes: 10})
	defer s.Close()
	writeSnapshot(t, s, 50, []byte("first"))
	mustAppend(t, s, randBytes(5, 35))
	s.Flush()
	r, _ := s.NewReader(50)
	defer r.Close()
	if s.Bytes() != 5+35 {
		t.Fatalf("bytes %d", s.Bytes())
	}
	w, err := s.NewSnapshot(rid, 9000)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Snapshot(); ok {
		t.Fatal("old snapshot still listed")
	}
	if _, err := s.NewSnapshot(rid, 1); !errors.Is(err, ErrBusy) {
		t.Fatalf("second NewSnapshot: %v", err)
	}
	if err := s.Append([]byte("x")); !errors.Is(err, ErrNoStream) {
		t.Fatal("append during snapshot accepted")
	}
	w.Write([]byte("second snapshot"))
	if s.Bytes() != 15 {
		t.Fatalf("bytes while writing %d", s.Bytes())
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if names := segNames(t, dir); len(names) != 1 || names[0] != segName(9000) {
		t.Fatalf("segments %v", names)
	}
	if s.Start() != 9000 || s.End() != 9000 {
		t.Fatalf("start %d end %d", s.Start(), s.End())
	}
	if _, err := r.Read(context.Background(), make([]byte, 4)); !errors.Is(err, ErrGone) {
		t.Fatalf("old reader: %v", err)
	}
	// Abort leaves no snapshot, and the stream is empty.
	w, _ = s.NewSnapshot(rid, 1)
	w.Write([]byte("partial"))
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Snapshot(); ok {
		t.Fatal("snapshot after abort")
	}
	if _, err := s.OpenSnapshot(); !errors.Is(err, ErrNoSnapshot) {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 { // only LOCK and stream/
		t.Fatalf("files left: %v", ents)
	}
	writeSnapshot(t, s, 3, []byte("third"))
	if err := s.RemoveSnapshot(); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Snapshot(); ok || s.Start() != 3 {
		t.Fatal("RemoveSnapshot")
	}
}

func TestResetStreamAndGone(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{SegmentBytes: 10})
	defer s.Close()
	if _, err := s.NewReader(0); !errors.Is(err, ErrGone) {
		t.Fatalf("reader on empty spool: %v", err)
	}
	if err := s.Append([]byte("x")); !errors.Is(err, ErrNoStream) {
		t.Fatal("append with no stream accepted")
	}
	if err := s.ResetStream(1000); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, randBytes(6, 25))
	for _, from := range []int64{999, 1026, -1} {
		if _, err := s.NewReader(from); !errors.Is(err, ErrGone) {
			t.Fatalf("NewReader(%d): %v", from, err)
		}
	}
	if err := s.ResetStream(2000); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, dir, Options{SegmentBytes: 10})
	defer s.Close()
	if s.Start() != 2000 || s.End() != 2000 {
		t.Fatalf("after reset+reopen: %d %d", s.Start(), s.End())
	}
}

func TestTrim(t *testing.T) {
	// Segments of 10 bytes starting at 100: 100-110, 110-120, 120-130, 130-135 (current).
	tests := []struct {
		applied   int64
		wantStart int64
	}{
		{0, 100}, {100, 100}, {109, 100}, {110, 110}, {119, 110}, {120, 120},
		{130, 130}, {135, 130}, {1000, 130},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.applied), func(t *testing.T) {
			dir := t.TempDir()
			s := open(t, dir, Options{SegmentBytes: 10})
			defer s.Close()
			s.ResetStream(100)
			mustAppend(t, s, randBytes(7, 35))
			s.Flush()
			if err := s.Trim(tc.applied); err != nil {
				t.Fatal(err)
			}
			if s.Start() != tc.wantStart || s.End() != 135 {
				t.Fatalf("start %d end %d", s.Start(), s.End())
			}
			names := segNames(t, dir)
			if names[0] != segName(tc.wantStart) || s.Bytes() != 135-tc.wantStart {
				t.Fatalf("files %v bytes %d", names, s.Bytes())
			}
			s.Close()
			s2 := open(t, dir, Options{SegmentBytes: 10})
			defer s2.Close()
			if s2.Start() != tc.wantStart || s2.End() != 135 {
				t.Fatalf("reopened: start %d end %d", s2.Start(), s2.End())
			}
		})
	}
}

func TestTruncate(t *testing.T) {
	for _, end := range []int64{100, 105, 110, 111, 125, 130, 135} {
		t.Run(fmt.Sprint(end), func(t *testing.T) {
			dir := t.TempDir()
			s := open(t, dir, Options{SegmentBytes: 10})
			s.ResetStream(100)
			data := randBytes(8, 35)
			mustAppend(t, s, data)
			if err := s.Truncate(end); err != nil {
				t.Fatal(err)
			}
			if s.End() != end || s.Durable() != end {
				t.Fatalf("end %d durable %d", s.End(), s.Durable())
			}
			mustAppend(t, s, []byte("tail"))
			s.Close()
			s = open(t, dir, Options{SegmentBytes: 10})
			defer s.Close()
			if s.Start() != 100 || s.End() != end+4 {
				t.Fatalf("reopened: %d %d", s.Start(), s.End())
			}
			r, _ := s.NewReader(100)
			defer r.Close()
			want := append(append([]byte(nil), data[:end-100]...), "tail"...)
			if got := readN(t, r, len(want), 7); !bytes.Equal(got, want) {
				t.Fatalf("got %q want %q", got, want)
			}
		})
	}
	s := open(t, t.TempDir(), Options{})
	defer s.Close()
	s.ResetStream(10)
	for _, end := range []int64{9, 11} {
		if err := s.Truncate(end); !errors.Is(err, ErrGone) {
			t.Fatalf("Truncate(%d): %v", end, err)
		}
	}
}

func TestNotWritable(t *testing.T) {
	base := t.TempDir()
	file := filepath.Join(base, "a-file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{filepath.Join(file, "state"), file} {
		_, err := Open(dir, Options{})
		wantErr(t, err, ErrNotWritable)
		if !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), "choose another state directory") {
			t.Fatalf("unclear error: %v", err)
		}
		t.Log(err)
	}
}

func TestDiskFullError(t *testing.T) {
	f, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skip("no /dev/full:", err)
	}
	defer f.Close()
	_, werr := f.Write([]byte("x"))
	if !errors.Is(werr, syscall.ENOSPC) {
		t.Skipf("/dev/full gave %v", werr)
	}
	err = ioErr("write", "/state/stream/x.seg", werr)
	wantErr(t, err, ErrDiskFull)
	wantErr(t, err, syscall.ENOSPC)
	if !strings.HasPrefix(err.Error(), "spool: disk full writing /state/stream/x.seg: ") {
		t.Fatalf("message: %v", err)
	}
}

func TestFull(t *testing.T) {
	s := open(t, t.TempDir(), Options{SegmentBytes: 100, MaxBytes: 1000})
	defer s.Close()
	writeSnapshot(t, s, 0, make([]byte, 600))
	if s.Full() {
		t.Fatal("full at 600")
	}
	mustAppend(t, s, make([]byte, 399))
	if s.Full() || s.Bytes() != 999 {
		t.Fatalf("bytes %d full %v", s.Bytes(), s.Full())
	}
	mustAppend(t, s, []byte{1})
	if !s.Full() {
		t.Fatal("not full at 1000")
	}
	s.Flush()
	s.Trim(200)
	if s.Full() || s.Bytes() != 800 {
		t.Fatalf("after trim: bytes %d full %v", s.Bytes(), s.Full())
	}
	s.RemoveSnapshot()
	if s.Bytes() != 200 {
		t.Fatalf("after RemoveSnapshot: %d", s.Bytes())
	}
	if _, err := Open(t.TempDir(), Options{MaxBytes: -1}); err == nil {
		t.Fatal("negative MaxBytes accepted")
	}
}

func TestLocked(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{})
	if _, err := Open(dir, Options{}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v", err)
	}
	s.Close()
	s2 := open(t, dir, Options{})
	s2.Close()
}

func TestReaderGone(t *testing.T) {
	s := open(t, t.TempDir(), Options{SegmentBytes: 10})
	defer s.Close()
	s.ResetStream(0)
	mustAppend(t, s, randBytes(11, 30))
	s.Flush()
	behind, _ := s.NewReader(5)
	defer behind.Close()
	ahead, _ := s.NewReader(28)
	defer ahead.Close()
	ctx := context.Background()
	if err := s.Trim(20); err != nil {
		t.Fatal(err)
	}
	if _, err := behind.Read(ctx, make([]byte, 4)); !errors.Is(err, ErrGone) {
		t.Fatalf("reader behind Trim: %v", err)
	}
	if err := s.Truncate(25); err != nil {
		t.Fatal(err)
	}
	if _, err := ahead.Read(ctx, make([]byte, 4)); !errors.Is(err, ErrGone) {
		t.Fatalf("reader past Truncate: %v", err)
	}
	if _, err := s.NewReader(5); !errors.Is(err, ErrGone) {
		t.Fatalf("NewReader below Start: %v", err)
	}
}

// TestFullBelowSegmentSize: a limit below the segment size must free up as
// the stream is applied, though the last segment stays on disk.
func TestFullBelowSegmentSize(t *testing.T) {
	s := open(t, t.TempDir(), Options{SegmentBytes: 1 << 20, MaxBytes: 1000})
	defer s.Close()
	if err := s.ResetStream(0); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, make([]byte, 1500))
	if !s.Full() || s.Pending() != 1500 {
		t.Fatalf("pending %d full %v, want 1500 full", s.Pending(), s.Full())
	}
	s.Flush()
	if err := s.Trim(1400); err != nil {
		t.Fatal(err)
	}
	if s.Full() || s.Pending() != 100 || s.Bytes() != 1500 {
		t.Fatalf("after applying 1400: pending %d bytes %d full %v", s.Pending(), s.Bytes(), s.Full())
	}
	if err := s.ResetStream(5000); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, make([]byte, 1000))
	if !s.Full() {
		t.Fatal("after ResetStream the old applied offset still counts")
	}
}

func TestStreamReplIDSurvivesReopenAndCanBeForgotten(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	id := "8f1c0f9e1c2d3b4a5968778695a4b3c2d1e0f9a8"
	if err := s.SetStreamReplID(id); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = Open(dir, Options{}); err != nil {
		t.Fatal(err)
	}
	if got := s.StreamReplID(); got != id {
		t.Fatalf("after reopen: replid %q, want %q", got, id)
	}
	if err := s.SetStreamReplID(""); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = Open(dir, Options{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.StreamReplID(); got != "" {
		t.Fatalf("forgotten replid came back: %q", got)
	}
	if err := s.SetStreamReplID("bad id"); err == nil {
		t.Fatal("a replid with a space was accepted")
	}
}
