package spool

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"strconv"
	"testing"
	"time"
)

// TestConcurrentCopy copies 50 MB through the spool: one writer appending
// random-sized chunks, flushing and syncing; one reader following through
// a bufio.Reader and trimming behind itself. The hashes must match.
func TestConcurrentCopy(t *testing.T) {
	const total = 50 << 20
	if testing.Short() {
		t.Skip("short")
	}
	dir := t.TempDir()
	s := open(t, dir, Options{SegmentBytes: 4 << 20})
	defer s.Close()
	const start = 123456
	if err := s.ResetStream(start); err != nil {
		t.Fatal(err)
	}
	data := randBytes(9, total)
	want := sha256.Sum256(data)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		sizes := []int{1, 17, 4096, 65536, 300 << 10, 1 << 20, 333}
		for i, p := 0, data; len(p) > 0; i++ {
			n := min(sizes[i%len(sizes)], len(p))
			if err := s.Append(p[:n]); err != nil {
				errc <- err
				return
			}
			p = p[n:]
			if i%3 == 0 {
				if err := s.Flush(); err != nil {
					errc <- err
					return
				}
			}
			if i%50 == 0 {
				if _, err := s.Sync(); err != nil {
					errc <- err
					return
				}
			}
		}
		_, err := s.Sync()
		errc <- err
	}()

	r, err := s.NewReader(start)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	h := sha256.New()
	br := bufio.NewReaderSize(r.WithContext(ctx), 64<<10)
	buf := make([]byte, 100<<10)
	var got int64
	for got < total {
		n, err := br.Read(buf[:min(len(buf), int(total-got))])
		h.Write(buf[:n])
		got += int64(n)
		if err != nil {
			t.Fatalf("read at %d: %v", got, err)
		}
		if err := s.Trim(r.Offset() - int64(br.Buffered())); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if [32]byte(h.Sum(nil)) != want {
		t.Fatal("hash mismatch")
	}
	if s.End() != start+total || s.Durable() != start+total {
		t.Fatalf("end %d durable %d", s.End(), s.Durable())
	}
	if names := segNames(t, dir); len(names) != 1 {
		t.Fatalf("segments left after trim: %v", names)
	}
	// Nothing more: a read blocks until the deadline.
	short, cancel2 := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel2()
	if _, err := r.Read(short, buf); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("read at end: %v", err)
	}
	var _ io.Reader = r.WithContext(ctx)
}

// BenchmarkSpool measures a writer appending 64 KiB chunks while a reader
// follows with 256 KiB reads (SetBytes: MB/s is spool throughput).
func BenchmarkSpool(b *testing.B) {
	for _, chunk := range []int{4 << 10, 64 << 10} {
		b.Run(byteSize(chunk), func(b *testing.B) {
			s := open(b, b.TempDir(), Options{SegmentBytes: 64 << 20})
			defer s.Close()
			s.ResetStream(0)
			data := randBytes(10, chunk)
			r, _ := s.NewReader(0)
			defer r.Close()
			ctx := context.Background()
			done := make(chan error, 1)
			total := int64(b.N) * int64(chunk)
			go func() {
				buf := make([]byte, 256<<10)
				for r.Offset() < total {
					if _, err := r.Read(ctx, buf); err != nil {
						done <- err
						return
					}
					s.Trim(r.Offset())
				}
				done <- nil
			}()
			b.SetBytes(int64(chunk))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := s.Append(data); err != nil {
					b.Fatal(err)
				}
				if i%16 == 15 {
					s.Flush()
				}
			}
			if _, err := s.Sync(); err != nil {
				b.Fatal(err)
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		})
	}
}

func byteSize(n int) string {
	if n >= 1<<20 {
		return strconv.Itoa(n>>20) + "MiB"
	}
	return strconv.Itoa(n>>10) + "KiB"
}
