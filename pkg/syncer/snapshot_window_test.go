package syncer

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/checkpoint"
	"github.com/redferry/redferry/pkg/ratelimit"
	"github.com/redferry/redferry/sink"
)

// A batch of the snapshot window refused at queue time: the batch behind
// it, already on the wire, is applied with its checkpoint. That checkpoint
// must not claim the refused batch's keys (a restart would skip them): it is
// the low-water mark, below the refused batch. The window then reports the
// failure, and the low-water mark is where the replay goes back to.
func TestSnapshotWindowCheckpointIsLowWaterMark(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	src := redistest.Start(t, redistest.Redis70, redistest.Options{})
	dst := redistest.Start(t, redistest.Redis70, redistest.Options{})
	p := proxy(t, dst)
	cfg := testConfig(t, src, dst)
	cfg.Target = viaProxy(p)
	s, err := newFromConfig(ctx, cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a := &applier{s: s, log: testLogger(t), batch: &sink.Batch{}, onceTarget: -1, pipe: s.target.NewPipeline()}
	const from = 50
	w, err := a.openSnapshotWindow(ctx, from)
	if err != nil || w == nil {
		t.Fatalf("openSnapshotWindow: %v, %v", w, err)
	}
	st := checkpoint.State{ReplID: "0123456789abcdef0123456789abcdef01234567", Offset: 7, Phase: checkpoint.PhaseSnapshotReplay}
	batches := []struct {
		cmd      []string
		resumeAt int64
	}{
		{[]string{"SET", "a", "1"}, 100},
		{[]string{"NOSUCHCOMMAND", "b"}, 200}, // refused at queue time: EXECABORT
		{[]string{"SET", "c", "1"}, 300},
	}
	p.Stall() // all three reach the target together
	for _, b := range batches {
		a.batch.AddStrings(b.resumeAt, b.cmd...)
		if err := w.send(ctx, a.batch, st, b.resumeAt); err != nil {
			t.Fatalf("send: %v", err)
		}
	}
	p.Resume()
	if err := w.close(ctx); !errors.Is(err, errWindowFailed) {
		t.Fatalf("close: %v, want errWindowFailed", err)
	}
	if lw := w.lowWater(); lw != 100 {
		t.Errorf("low-water mark %d, want 100 (the end of the last batch confirmed before the refused one)", lw)
	}
	c := dst.Client()
	defer c.Close()
	if n := c.Exists(ctx, "c").Val(); n != 1 {
		t.Fatalf("the batch behind the refused one was not applied: the test did not test the case")
	}
	got, ok, err := s.store.Load(ctx)
	if err != nil || !ok {
		t.Fatalf("checkpoint: %v, %v", ok, err)
	}
	if got.SnapshotPos > 100 || got.SnapshotPos < from {
		t.Errorf("the checkpoint in the target says every key before byte %d is applied; the refused batch starts at 100", got.SnapshotPos)
	}
}

// max-ops-per-second holds for the snapshot's batches too, also with
// several in flight: five batches of 100 commands at 500 commands a second
// cannot all start within 0.8 s, and every one of them lands.
func TestSnapshotWindowKeepsRateLimit(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	src := redistest.Start(t, redistest.Redis70, redistest.Options{})
	dst := redistest.Start(t, redistest.Redis70, redistest.Options{})
	s, err := newFromConfig(ctx, testConfig(t, src, dst), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.opt.Limits = ratelimit.New(500, 0)
	a := &applier{s: s, log: testLogger(t), batch: &sink.Batch{}, onceTarget: -1, pipe: s.target.NewPipeline()}
	w, err := a.openSnapshotWindow(ctx, 0)
	if err != nil || w == nil {
		t.Fatalf("openSnapshotWindow: %v, %v", w, err)
	}
	st := checkpoint.State{ReplID: "0123456789abcdef0123456789abcdef01234567", Offset: 7, Phase: checkpoint.PhaseSnapshotReplay}
	const batches, per = 5, 100
	start := time.Now()
	for i := range batches {
		for j := range per {
			a.batch.AddStrings(int64(i*per+j), "SET", "k:"+strconv.Itoa(i*per+j), "v")
		}
		if err := w.send(ctx, a.batch, st, int64((i+1)*per)); err != nil {
			t.Fatalf("send: %v", err)
		}
	}
	if err := w.close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	if took := time.Since(start); took < 700*time.Millisecond {
		t.Errorf("%d commands applied in %v at a limit of 500 a second: the window ignored the rate limit", batches*per, took)
	}
	c := dst.Client()
	defer c.Close()
	if n := c.DBSize(ctx).Val(); n != batches*per+1 {
		t.Errorf("target holds %d keys, want %d and the checkpoint", n, batches*per)
	}
}
