package verify_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/verify"
)

// fillMix writes n keys of every type through c (a standalone or cluster client).
func fillMix(t *testing.T, c redis.Cmdable, n int) {
	t.Helper()
	ctx := context.Background()
	for i := 0; i < n; i++ {
		k := "k" + strconv.Itoa(i)
		var err error
		switch i % 5 {
		case 0:
			err = c.Set(ctx, k, "v"+strconv.Itoa(i), 0).Err()
		case 1:
			err = c.HSet(ctx, k, "a", i, "b", "x").Err()
		case 2:
			err = c.RPush(ctx, k, 1, 2, i).Err()
		case 3:
			err = c.ZAdd(ctx, k, redis.Z{Score: float64(i) / 3, Member: "m"}).Err()
		case 4:
			err = c.XAdd(ctx, &redis.XAddArgs{Stream: k, ID: "1-" + strconv.Itoa(i+1), Values: []any{"f", i}}).Err()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestCompareClusters(t *testing.T) {
	ctx := context.Background()
	cl := redistest.StartCluster(t, redistest.Redis70, 3, redistest.Options{})
	single := redistest.Start(t, redistest.Valkey91, redistest.Options{})
	cc, sc := cl.Client(), single.Client()
	defer cc.Close()
	defer sc.Close()
	fillMix(t, cc, 300)
	fillMix(t, sc, 300)

	cc2 := cl.Client()
	defer cc2.Close()
	for _, tc := range []struct {
		name     string
		src, dst redis.UniversalClient
	}{
		{"cluster to standalone", cc, sc},
		{"standalone to cluster", sc, cc},
		{"cluster to cluster", cc, cc2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := verify.Compare(ctx, tc.src, tc.dst, verify.Options{BatchSize: 50})
			if err != nil {
				t.Fatal(err)
			}
			if !rep.Equal() || rep.KeysChecked != 300 {
				t.Fatalf("equal data: %d keys checked, diffs %v; want 300 and none", rep.KeysChecked, rep.Diffs)
			}
		})
	}

	// One key missing in the standalone side, one extra there, one value changed.
	sc.Del(ctx, "k10")
	sc.Set(ctx, "only-single", "x", 0)
	sc.HSet(ctx, "k11", "a", "changed")
	rep, err := verify.Compare(ctx, cc, sc, verify.Options{BatchSize: 50})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"k10": verify.KindMissing, "only-single": verify.KindExtra, "k11": verify.KindValue}
	if rep.DiffCount != 3 {
		t.Fatalf("want 3 diffs, got %v", rep.Diffs)
	}
	for _, d := range rep.Diffs {
		if want[d.Key] != d.Kind {
			t.Fatalf("unexpected diff %v (want %v)", d, want)
		}
	}
	rep, err = verify.Compare(ctx, sc, cc, verify.Options{BatchSize: 50})
	if err != nil || rep.DiffCount != 3 {
		t.Fatalf("reverse direction: %v, diffs %v", err, rep.Diffs)
	}
}

func TestCompareRoundsSkipKeysInFlight(t *testing.T) {
	ctx := context.Background()
	src, dst := redistest.Start(t, redistest.Redis70, redistest.Options{}), redistest.Start(t, redistest.Redis70, redistest.Options{})
	sc, dc := src.Client(), dst.Client()
	defer sc.Close()
	defer dc.Close()
	fillMix(t, sc, 100)
	fillMix(t, dc, 100)
	// Five keys the "sync" has not applied yet, one that never converges.
	for i := 0; i < 5; i++ {
		sc.Set(ctx, "late"+strconv.Itoa(i), i, 0)
	}
	sc.Set(ctx, "k0", "diverged", 0)
	go func() {
		time.Sleep(300 * time.Millisecond)
		for i := 0; i < 5; i++ {
			dc.Set(ctx, "late"+strconv.Itoa(i), i, 0)
		}
	}()
	var streamed []verify.Diff
	rep, err := verify.Compare(ctx, sc, dc, verify.Options{Rounds: 3, Interval: 400 * time.Millisecond,
		OnDiff: func(d verify.Diff) { streamed = append(streamed, d) }})
	if err != nil {
		t.Fatal(err)
	}
	if rep.DiffCount != 1 || rep.Diffs[0].Key != "k0" || len(streamed) != 1 {
		t.Fatalf("want only k0 reported after 3 rounds, got %v (streamed %v)", rep.Diffs, streamed)
	}
	if rep.Rechecked < 6 || rep.Settled != 5 || rep.KeysChecked != 105 {
		t.Fatalf("rechecked %d settled %d checked %d; want >= 6, 5, 105", rep.Rechecked, rep.Settled, rep.KeysChecked)
	}

	// One round (the default) reports what differs at that moment.
	sc.Set(ctx, "late-again", 1, 0)
	rep, err = verify.Compare(ctx, sc, dc, verify.Options{})
	if err != nil || rep.DiffCount != 2 {
		t.Fatalf("one round: %v, want 2 diffs, got %v", err, rep.Diffs)
	}
}

func TestCompareSampleRateProgress(t *testing.T) {
	ctx := context.Background()
	src, dst := redistest.Start(t, redistest.Redis70, redistest.Options{}), redistest.Start(t, redistest.Redis70, redistest.Options{})
	sc, dc := src.Client(), dst.Client()
	defer sc.Close()
	defer dc.Close()
	fillMix(t, sc, 2000)
	fillMix(t, dc, 2000)
	for i := 0; i < 2000; i += 2 {
		dc.Del(ctx, "k"+strconv.Itoa(i)) // half the keys missing
	}

	rep, err := verify.Compare(ctx, sc, dc, verify.Options{Sample: 100})
	if err != nil {
		t.Fatal(err)
	}
	if rep.KeysChecked == 0 || rep.KeysChecked > 100 || rep.DiffCount < 20 {
		t.Fatalf("sample of 100: %d keys checked, %d diffs; want <= 100 checked and about half missing", rep.KeysChecked, rep.DiffCount)
	}

	var lastDone, lastTotal int64
	start := time.Now()
	rep, err = verify.Compare(ctx, sc, dc, verify.Options{Rate: 3000, BatchSize: 100,
		OnProgress: func(done, total int64) { lastDone, lastTotal = done, total }})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 800*time.Millisecond {
		t.Fatalf("3000 keys at --rate 3000 took %s, want about 1s", took)
	}
	if lastDone != 3000 || lastTotal != 3000 || rep.DiffCount != 1000 {
		t.Fatalf("progress %d/%d, %d diffs; want 3000/3000 and 1000", lastDone, lastTotal, rep.DiffCount)
	}
}
