package sink

import (
	"errors"
	"testing"

	"github.com/redferry/redferry/internal/redistest"
)

// A batch with runtime rejections in several dbs: with "stop" the error
// lists each one with its db, its place among the commands of the same
// offset and the CRC of its exact bytes; with "log" each is handed to
// OnSkipped and counted as skipped.
func TestRejectedCommandsDescribed(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Redis70, redistest.Options{})
	build := func(prefix string) (*Batch, [][]byte) {
		b := &Batch{StartDB: 2}
		b.AddStrings(10, "SET", prefix+"s", "x")
		b.AddStrings(20, "LPUSH", prefix+"s", "y") // WRONGTYPE in db 2
		b.AddStrings(30, "SELECT", "5")
		b.AddStrings(40, "SET", prefix+"t", "x")
		b.AddStrings(50, "SET", prefix+"u", "1")
		b.AddStrings(50, "SADD", prefix+"t", "m") // WRONGTYPE in db 5, the 2nd command of offset 50
		b.Checkpoint = []byte("cp")
		return b, [][]byte{append([]byte(nil), b.Raw(1)...), append([]byte(nil), b.Raw(5)...)}
	}

	s := newSink(t, srv, Config{OnError: OnErrorStop, CheckpointKey: "cp"})
	b, raws := build("stop:")
	var te *TargetError
	if err := s.Apply(ctx(t), b); !errors.As(err, &te) || !te.Applied || len(te.Rejected) != 2 {
		t.Fatalf("Apply = %v, want an applied TargetError with 2 rejected commands", err)
	}
	want := []struct {
		off     int64
		sub, db int
		name    string
		raw     []byte
	}{{20, 0, 2, "LPUSH", raws[0]}, {50, 1, 5, "SADD", raws[1]}}
	for i, w := range want {
		r := te.Rejected[i]
		if r.Offset != w.off || r.Sub != w.sub || r.DB != w.db || string(r.Args[0]) != w.name || r.Sum != CommandSum(w.raw) || r.Message == "" {
			t.Errorf("rejected[%d] = off %d sub %d db %d %s sum %x %q; want off %d sub %d db %d %s sum %x",
				i, r.Offset, r.Sub, r.DB, r.Args[0], r.Sum, r.Message, w.off, w.sub, w.db, w.name, CommandSum(w.raw))
		}
	}

	var skipped []*TargetError
	s = newSink(t, srv, Config{OnError: OnErrorLog, CheckpointKey: "cp", OnSkipped: func(e *TargetError) { skipped = append(skipped, e) }})
	b, _ = build("log:")
	if err := s.Apply(ctx(t), b); err != nil {
		t.Fatalf("Apply with log = %v", err)
	}
	if len(skipped) != 2 || skipped[0].Command != "LPUSH" || skipped[1].Command != "SADD" {
		t.Fatalf("OnSkipped got %d calls, want LPUSH and SADD", len(skipped))
	}
	if st := s.Stats(); st.Skipped != 2 || st.Errors != 2 {
		t.Errorf("Stats = %+v, want 2 skipped, 2 errors", st)
	}
	// ApplyStrict stops whatever OnError says.
	b, _ = build("strict:")
	if err := s.ApplyStrict(ctx(t), b); !errors.As(err, &te) || len(te.Rejected) != 2 {
		t.Fatalf("ApplyStrict with OnError log = %v, want the TargetError", err)
	}
}
