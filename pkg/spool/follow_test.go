package spool

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand"
	"testing"
	"time"
)

func TestSnapshotFollowerReadsWhileWritten(t *testing.T) {
	for _, tt := range []struct {
		name   string
		commit bool
	}{{"committed", true}, {"aborted", false}} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(t.TempDir(), Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			w, err := s.NewSnapshot("0123456789012345678901234567890123456789", 42)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			f, err := w.Follow(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if f.ReplID() != "0123456789012345678901234567890123456789" || f.Offset() != 42 {
				t.Fatalf("follower of %s at %d", f.ReplID(), f.Offset())
			}
			want := make([]byte, 5<<20)
			rand.New(rand.NewSource(1)).Read(want)
			go func() {
				for off := 0; off < len(want); off += 100_000 {
					if _, err := w.Write(want[off:min(off+100_000, len(want))]); err != nil {
						t.Error(err)
						return
					}
					time.Sleep(time.Millisecond)
				}
				if tt.commit {
					if err := w.Commit(); err != nil {
						t.Error(err)
					}
				} else {
					_ = w.Abort()
				}
			}()
			got, err := io.ReadAll(f)
			if tt.commit {
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("read %d bytes (err %v), want the %d written", len(got), err, len(want))
				}
				if !f.Complete() || f.Wait(ctx) != nil {
					t.Fatal("a committed snapshot is not complete")
				}
				return
			}
			if !errors.Is(err, ErrSnapshotAborted) || !bytes.Equal(got, want[:len(got)]) {
				t.Fatalf("aborted snapshot: read %d bytes, err %v; want a prefix and ErrSnapshotAborted", len(got), err)
			}
			if f.Wait(ctx) == nil || f.Complete() {
				t.Fatal("an aborted snapshot reports complete")
			}
		})
	}
}
