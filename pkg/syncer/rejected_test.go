package syncer

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/checkpoint"
	"github.com/redferry/redferry/pkg/config"
	"github.com/redferry/redferry/pkg/status"
)

// runOnceWith runs a sync with --once and the operator's answer to
// rejected commands, and returns the tracker's report and what Run returned.
func runOnceWith(t *testing.T, ctx context.Context, cfg config.Config, retry bool, skip ...int64) (status.Report, error) {
	t.Helper()
	cfg.Once = true
	opt, err := OptionsFromConfig(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	opt.RetryRejected, opt.SkipRejected = retry, skip
	s, err := New(ctx, opt)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.Run(ctx)
	return s.Tracker().Report(), err
}

func targetCheckpoint(t *testing.T, ctx context.Context, dc *redis.Client) checkpoint.State {
	t.Helper()
	v, err := dc.Get(ctx, checkpoint.KeyPrefix+"default").Bytes()
	if err != nil {
		t.Fatal(err)
	}
	st, err := checkpoint.Unmarshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// Two commands of one source transaction rejected in db 3: both recorded;
// a skip of one leaves the other waiting; a retry after fixing its key
// applies it exactly once; a start past the answer goes on by itself.
func TestRejectedCommandsInOneBatch(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	src := redistest.Start(t, redistest.Redis70, redistest.Options{})
	dst := redistest.Start(t, redistest.Redis70, redistest.Options{})
	sc, dc, dc3 := src.ClientDB(3), dst.Client(), dst.ClientDB(3)
	defer sc.Close()
	defer dc.Close()
	defer dc3.Close()
	if err := sc.MSet(ctx, "a", "1", "b", "1").Err(); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, src, dst)
	r := startSyncer(t, ctx, cfg)
	waitCaughtUp(t, ctx, r.s, src, r.errc)
	for _, k := range []string{"a", "b"} { // made lists on the target by hand
		if err := dc3.Del(ctx, k).Err(); err != nil {
			t.Fatal(err)
		}
		if err := dc3.RPush(ctx, k, "by-hand").Err(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := sc.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Incr(ctx, "a")
		p.Incr(ctx, "b")
		p.Set(ctx, "c", "1", 0)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	err := r.waitStopped(t, "the target rejected two commands")
	var re *RejectedError
	if !errors.As(err, &re) || !errors.Is(err, ErrStoppedOnRejection) || len(re.State.Rejected) != 2 {
		t.Fatalf("Run returned %v, want a RejectedError with two commands", err)
	}
	if n := r.s.Tracker().Report().TargetErrors; n != 2 {
		t.Errorf("target errors counted: %d, want 2", n)
	}
	r.s.Close()
	r.s = nil
	st := targetCheckpoint(t, ctx, dc)
	if len(st.Rejected) != 2 || st.Rejected[0].Key != "a" || st.Rejected[1].Key != "b" || st.Rejected[0].DB != 3 || st.Rejected[1].DB != 3 {
		t.Fatalf("recorded %+v, want INCR a and INCR b in db 3", st.Rejected)
	}
	if dc3.Get(ctx, "c").Val() != "1" {
		t.Fatal("the rest of the batch (SET c) was not applied")
	}
	offA, offB := st.Rejected[0].Offset, st.Rejected[1].Offset

	// Skip a only: b still waits, named in the refusal.
	rep, err := runOnceWith(t, ctx, cfg, false, offA)
	if !errors.Is(err, ErrStoppedOnRejection) || !strings.Contains(err.Error(), strconv.FormatInt(offB, 10)) || strings.Contains(err.Error(), `key "a"`) {
		t.Fatalf("after skipping a: %v, want a refusal naming b only", err)
	}
	if n := rep.RejectedSkippedByOperator; n != 1 {
		t.Errorf("skips counted: %d, want 1", n)
	}
	if st := targetCheckpoint(t, ctx, dc); len(st.Rejected) != 1 || st.Rejected[0].Offset != offB {
		t.Fatalf("after skipping a the checkpoint records %+v, want b only", st.Rejected)
	}

	// Fix b, retry it: exactly once, then the stream goes on.
	if err := dc3.Set(ctx, "b", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := sc.Set(ctx, "d", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	rep, err = runOnceWith(t, ctx, cfg, true)
	if err != nil {
		t.Fatalf("--retry-rejected: %v", err)
	}
	if n := rep.RejectedRetried; n != 1 {
		t.Errorf("retries counted: %d, want 1", n)
	}
	if v := dc3.Get(ctx, "b").Val(); v != "2" {
		t.Fatalf("b = %q after the retry, want 2", v)
	}
	if dc3.Type(ctx, "a").Val() != "list" || dc3.Get(ctx, "d").Val() != "1" {
		t.Fatal("after the answer: a must stay the list, d must arrive")
	}
	if st := targetCheckpoint(t, ctx, dc); st.HasRejected() {
		t.Fatalf("the checkpoint still records %+v", st.Rejected)
	}
	if _, err := runOnceWith(t, ctx, cfg, false); err != nil {
		t.Fatalf("a start after the answer: %v", err)
	}
}

// A retry needs the command from the spool and a known outcome of any
// earlier retry; without them only a skip is offered, and nothing is
// written until then.
func TestRejectedCommandOnlySkippable(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	src := redistest.Start(t, redistest.Redis70, redistest.Options{})
	dst := redistest.Start(t, redistest.Redis70, redistest.Options{})
	sc, dc := src.Client(), dst.Client()
	defer sc.Close()
	defer dc.Close()
	if err := dc.RPush(ctx, "clash", "x").Err(); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, src, dst)
	cfg.Merge = true
	r := startSyncer(t, ctx, cfg)
	waitCaughtUp(t, ctx, r.s, src, r.errc)
	if err := sc.Incr(ctx, "clash").Err(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-r.errc:
		if !errors.Is(err, ErrStoppedOnRejection) {
			t.Fatalf("Run returned %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the sync goes on after the target rejected a command")
	}
	r.s.Close()
	r.s = nil
	recorded := targetCheckpoint(t, ctx, dc)
	off := recorded.Rejected[0].Offset
	if err := sc.Set(ctx, "later", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}

	// A new state dir: the spool is gone.
	noSpool := cfg
	noSpool.StateDir = t.TempDir()
	_, err := runOnceWith(t, ctx, noSpool, true)
	if !errors.Is(err, ErrStoppedOnRejection) || !strings.Contains(err.Error(), "no longer holds") ||
		!strings.Contains(err.Error(), "--skip-rejected "+strconv.FormatInt(off, 10)) {
		t.Fatalf("--retry-rejected without the spool: %v, want a refusal offering only the skip", err)
	}

	// A retry sent whose outcome was never recorded.
	sent := recorded
	sent.Rejected[0].RetrySent = true
	if err := dc.Set(ctx, checkpoint.KeyPrefix+"default", sent.Marshal(), 0).Err(); err != nil {
		t.Fatal(err)
	}
	_, err = runOnceWith(t, ctx, cfg, true)
	if !errors.Is(err, ErrStoppedOnRejection) || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("--retry-rejected after a retry of unknown outcome: %v, want a refusal", err)
	}
	if dc.Exists(ctx, "later").Val() != 0 || dc.Type(ctx, "clash").Val() != "list" {
		t.Fatal("a refused start wrote to the target")
	}

	if _, err := runOnceWith(t, ctx, noSpool, false, off); err != nil {
		t.Fatalf("--skip-rejected without the spool: %v", err)
	}
	if dc.Get(ctx, "later").Val() != "1" {
		t.Fatal("the write after the skipped command did not arrive")
	}
}

// on-target-error = log skips rejected commands and goes on, but counts them.
func TestOnTargetErrorLogCountsSkips(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	src := redistest.Start(t, redistest.Redis70, redistest.Options{})
	dst := redistest.Start(t, redistest.Redis70, redistest.Options{})
	sc, dc := src.Client(), dst.Client()
	defer sc.Close()
	defer dc.Close()
	if err := dc.RPush(ctx, "clash", "x").Err(); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, src, dst)
	cfg.Merge, cfg.OnTargetError = true, "log"
	r := startSyncer(t, ctx, cfg)
	waitCaughtUp(t, ctx, r.s, src, r.errc)
	for range 3 {
		if err := sc.Incr(ctx, "clash").Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := sc.Set(ctx, "after", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	waitCaughtUp(t, ctx, r.s, src, r.errc)
	rep := r.s.Tracker().Report()
	if rep.RejectedSkippedByLog != 3 || rep.TargetErrors != 3 {
		t.Fatalf("skipped %d, target errors %d: want 3 and 3", rep.RejectedSkippedByLog, rep.TargetErrors)
	}
	if dc.Get(ctx, "after").Val() != "1" {
		t.Fatal("the write after the skipped commands did not arrive")
	}
	if st := targetCheckpoint(t, ctx, dc); st.HasRejected() {
		t.Fatalf("on-target-error = log recorded %+v", st.Rejected)
	}
}
