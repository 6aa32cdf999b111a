package spool

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

const rid = "8371b4fb1155b71f4a04d3e1bc3e18c4a990aeeb"

func open(t testing.TB, dir string, opt Options) *Spool {
	t.Helper()
	if opt.Logger == nil {
		if tt, ok := t.(*testing.T); ok {
			opt.Logger = zaptest.NewLogger(tt)
		}
	}
	s, err := Open(dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func randBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func mustAppend(t testing.TB, s *Spool, p []byte) {
	t.Helper()
	if err := s.Append(p); err != nil {
		t.Fatal(err)
	}
}

// readN reads exactly n bytes from r with reads of at most chunk bytes.
func readN(t testing.TB, r *Reader, n, chunk int) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out := make([]byte, 0, n)
	buf := make([]byte, chunk)
	for len(out) < n {
		m, err := r.Read(ctx, buf[:min(chunk, n-len(out))])
		if err != nil {
			t.Fatalf("read at %d: %v", r.Offset(), err)
		}
		out = append(out, buf[:m]...)
	}
	return out
}

func segNames(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, streamDir))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names
}

func writeSnapshot(t testing.TB, s *Spool, offset int64, data []byte) {
	t.Helper()
	w, err := s.NewSnapshot(rid, offset)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(w, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
}

func wantErr(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("err = %v, want %v", err, target)
	}
}

// crash drops s like kill -9 would: buffered bytes are lost, file handles
// and the lock are released, nothing is flushed or cleaned up.
func crash(s *Spool) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.buf = nil
	if s.cur != nil {
		s.cur.Close()
	}
	if s.lock != nil {
		s.lock.Close()
	}
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
}
