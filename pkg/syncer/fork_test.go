package syncer

import (
	"context"
	"strings"
	"testing"

	"go.uber.org/zap/zaptest"

	"github.com/redferry/redferry/pkg/checkpoint"
	"github.com/redferry/redferry/pkg/spool"
)

const forkTestReplID = "8371b4fb1155b71f4a04d3e1bc3e18c4a990aeeb"

// TestPingsOnlyPastFork: the spool is cut at the new master's fork only
// when what lies past it, read back from the spool, is whole PINGs and
// REPLCONFs; anything else past the fork, a fork inside a command, bytes
// that do not parse, or a fork that was trimmed away leave the spool whole.
func TestPingsOnlyPastFork(t *testing.T) {
	const (
		start   = 1000
		ping    = "*1\r\n$4\r\nPING\r\n"
		pingLow = "*1\r\n$4\r\nping\r\n"
		ack     = "*3\r\n$8\r\nREPLCONF\r\n$6\r\nGETACK\r\n$1\r\n*\r\n"
		set     = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\n"
	)
	shared := []string{set, set} // the history both masters have
	data := strings.Join(shared, "")
	fork := int64(start + len(data))
	cases := []struct {
		name    string
		past    []string // appended after the shared history, one piece per Append as the receiver does
		fork    int64
		trim    int64 // Trim(trim) before the check: applied segments removed
		wantCut bool
	}{
		{"pings only", []string{ping, ping, pingLow}, fork, 0, true},
		{"pings and replconfs", []string{ping, ack, ping}, fork, 0, true},
		{"pings spanning segments", []string{ping, ping, ping, ping, ping, ping}, fork, 0, true},
		{"a SET past the fork", []string{ping, set, ping}, fork, 0, false},
		{"a SET first past the fork", []string{set}, fork, 0, false},
		{"fork inside a command", []string{ping, ping}, fork - 5, 0, false},
		{"unparsable bytes", []string{ping, "+OK\r\n"}, fork, 0, false},
		{"a torn PING at the end", []string{ping, ping[:7]}, fork, 0, false},
		{"nothing past the fork", nil, fork, 0, false},
		{"fork before the spool's start", []string{ping, ping}, start + int64(len(set)), fork + int64(len(ping)), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			sp, err := spool.Open(t.TempDir(), spool.Options{SegmentBytes: 32})
			if err != nil {
				t.Fatal(err)
			}
			defer sp.Close()
			if err := sp.ResetStream(start); err != nil {
				t.Fatal(err)
			}
			for _, cmd := range append(append([]string(nil), shared...), tc.past...) {
				if err := sp.Append([]byte(cmd)); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := sp.Sync(); err != nil {
				t.Fatal(err)
			}
			if tc.trim > 0 {
				if err := sp.Trim(tc.trim); err != nil {
					t.Fatal(err)
				}
				if sp.Start() <= tc.fork {
					t.Fatalf("the trim left the fork %d in the spool (start %d): the case tests nothing", tc.fork, sp.Start())
				}
			}
			end := sp.End()
			// A checkpoint committed with the last PING (the file store's):
			// the cut lowers it to the fork.
			store := fileStore{checkpoint.NewFileStore(t.TempDir())}
			if err := store.Save(ctx, checkpoint.State{ReplID: forkTestReplID, Offset: end, Phase: checkpoint.PhaseStreaming, DB: 3}); err != nil {
				t.Fatal(err)
			}
			s := &Syncer{spool: sp, log: zaptest.NewLogger(t), store: store}
			err = s.pingsOnlyPast(ctx, tc.fork)
			e, cut := asPingsPastFork(err)
			if err != nil && !cut {
				t.Fatalf("pingsOnlyPast: %v", err)
			}
			if cut != tc.wantCut {
				t.Fatalf("cut = %v (%v), want %v", cut, err, tc.wantCut)
			}
			if !cut {
				if sp.End() != end {
					t.Errorf("the spool end moved from %d to %d without a cut", end, sp.End())
				}
				return
			}
			if e.fork != tc.fork || e.end != end {
				t.Errorf("cut from %d to %d, want from %d to %d", e.fork, e.end, tc.fork, end)
			}
			if err := s.cutPingsPastFork(ctx, e); err != nil {
				t.Fatal(err)
			}
			if st, _, err := store.Load(ctx); err != nil || st.Offset != tc.fork || st.DB != 3 || st.ReplID != forkTestReplID {
				t.Errorf("the checkpoint after the cut: %+v (%v), want offset %d (the fork), db 3, the same replid", st, err, tc.fork)
			}
			if sp.End() != tc.fork {
				t.Errorf("spool end after the cut = %d, want the fork %d", sp.End(), tc.fork)
			}
			if got := readSpool(t, sp, start, tc.fork); got != data {
				t.Errorf("the shared history changed by the cut: %q, want %q", got, data)
			}
		})
	}
}
