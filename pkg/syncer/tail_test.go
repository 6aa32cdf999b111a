package syncer

import (
	"context"
	"testing"

	"go.uber.org/zap/zaptest"

	"github.com/redferry/redferry/pkg/spool"
)

// TestRepairStreamTail: a torn command at the end of the spooled stream is
// cut off; whole commands, and a stream that ends cleanly, stay.
func TestRepairStreamTail(t *testing.T) {
	const ping = "*1\r\n$4\r\nPING\r\n"
	const set = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\n"
	cases := []struct {
		name    string
		from    int64 // a command boundary before the tail
		stream  string
		wantEnd int64
	}{
		{"clean end", 100, ping + set, 100 + int64(len(ping+set))},
		{"torn in the header", 100, ping + set[:2], 100 + int64(len(ping))},
		{"torn in an argument", 100, ping + set + set[:len(set)-3], 100 + int64(len(ping+set))},
		{"only a torn command", 100, set[:10], 100},
		{"checked from a later boundary", 100 + int64(len(ping)), ping + set + "*3\r\n$3", 100 + int64(len(ping+set))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sp, err := spool.Open(t.TempDir(), spool.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer sp.Close()
			if err := sp.ResetStream(100); err != nil {
				t.Fatal(err)
			}
			if err := sp.Append([]byte(tc.stream)); err != nil {
				t.Fatal(err)
			}
			if _, err := sp.Sync(); err != nil {
				t.Fatal(err)
			}
			s := &Syncer{spool: sp, log: zaptest.NewLogger(t)}
			if err := s.repairStreamTail(context.Background(), tc.from); err != nil {
				t.Fatal(err)
			}
			if got := sp.End(); got != tc.wantEnd {
				t.Errorf("End after repair = %d, want %d", got, tc.wantEnd)
			}
		})
	}
}
