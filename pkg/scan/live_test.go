package scan

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redferry/redferry/internal/redistest"
)

// bigHashFields is the size of the big key of the load tests: copied page
// by page, and changed while it is copied.
const bigHashFields = 200_000

func fillBigHash(ctx context.Context, t *testing.T, c *redis.Client, key string) {
	t.Helper()
	for start := 0; start < bigHashFields; start += 10_000 {
		args := make([]any, 0, 20_000)
		for i := start; i < start+10_000; i++ {
			args = append(args, "f"+strconv.Itoa(i), i*7)
		}
		if err := c.HSet(ctx, key, args...).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

// load runs the workload's non-idempotent writes (counters, pushes and
// pops, renames, moves, deletes, short TTLs, streams) on the source until
// stop, plus a change of the big hash now and then, and a FLUSHDB of db 2
// once; it returns the number of workload calls done.
func load(ctx context.Context, src *redistest.Server, wl *redistest.Workload, bigKey string, stop <-chan struct{}) (chan error, *int) {
	errc := make(chan error, 1)
	calls := new(int)
	go func() {
		c := src.Client()
		defer c.Close()
		db2 := src.ClientDB(2)
		defer db2.Close()
		flushed := false
		start := time.Now()
		for i := 0; ; i++ {
			select {
			case <-stop:
				if !flushed { // a slow machine: the FLUSHDB still happens during the run
					errc <- db2.FlushDB(ctx).Err()
					return
				}
				errc <- nil
				return
			default:
			}
			if err := wl.Run(ctx, c, 50); err != nil {
				errc <- err
				return
			}
			*calls++
			if err := c.HIncrBy(ctx, bigKey, "f"+strconv.Itoa(i*7919%bigHashFields), 1).Err(); err != nil {
				errc <- err
				return
			}
			if !flushed && time.Since(start) > time.Second {
				flushed = true
				if err := db2.FlushDB(ctx).Err(); err != nil {
					errc <- err
					return
				}
			}
		}
	}()
	return errc, calls
}

// TestScanUnderLoad copies a source that a non-idempotent load writes to,
// with and without --live, and compares the servers once the load stops.
// Without --live the pass is slowed (Rate) so that the load ends while it
// runs: what changed during the copy must be copied again. By default each
// pair runs in one of the two modes (alternating); REDFERRY_SCAN_MATRIX=1
// (make scan-matrix) runs both modes for every pair.
func TestScanUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load test: -short")
	}
	pairs := []struct {
		src, dst     string
		fieldTTL     bool
		downgrade    bool
		keepDeletedP bool
		functions    bool
	}{
		{redistest.Redis80, redistest.Redis60, false, true, true, false},
		{Redis86, redistest.Valkey91, true, true, false, true},
		{redistest.Redis70, redistest.Valkey91, false, false, false, true},
	}
	matrix := os.Getenv("REDFERRY_SCAN_MATRIX") != ""
	for i, p := range pairs {
		for _, live := range []bool{true, false} {
			if !matrix && live != (i%2 == 0) {
				continue
			}
			name := fmt.Sprintf("%s->%s/live=%v", p.src, p.dst, live)
			t.Run(name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
				defer cancel()
				src := redistest.Start(t, p.src, redistest.Options{})
				dst := redistest.Start(t, p.dst, redistest.Options{})
				sc := src.Client()
				defer sc.Close()
				wl := &redistest.Workload{Seed: 11, Version: src.Version, HashFieldTTL: p.fieldTTL, Functions: p.functions,
					KeepDeletedPending: p.keepDeletedP, NoGhostPending: p.downgrade}
				if err := wl.Fill(ctx, sc, 1500); err != nil {
					t.Fatal(err)
				}
				const bigKey = "big:hash"
				fillBigHash(ctx, t, sc, bigKey)

				opt := options(t, src, dst)
				opt.Live = live
				opt.ScanCount = 50
				if !live {
					opt.Rate = 600 // about 3 s a pass: the load ends during the first
				}
				stop := make(chan struct{})
				loadErr, calls := load(ctx, src, wl, bigKey, stop)
				runCtx, stopRun := context.WithCancel(ctx)
				defer stopRun()
				var (
					st     Stats
					runErr error
					wg     sync.WaitGroup
				)
				wg.Add(1)
				go func() {
					defer wg.Done()
					st, runErr = Run(runCtx, opt)
				}()
				time.Sleep(2 * time.Second)
				close(stop)
				if err := <-loadErr; err != nil {
					t.Fatal(err)
				}
				t.Logf("load: %d workload runs of 50 ops", *calls)
				if live {
					assertEqual(t, src, dst, 20) // the target catches up while verify re-checks
					stopRun()
				}
				wg.Wait()
				if runErr != nil {
					t.Fatal(runErr)
				}
				t.Logf("stats %+v", st)
				if st.Big == 0 || st.Events == 0 || st.Rescans == 0 {
					t.Errorf("want a key copied page by page, events and a new pass after FLUSHDB; stats %+v", st)
				}
				if !live {
					assertEqual(t, src, dst, 1)
				}
				if v := sc.ConfigGet(ctx, "notify-keyspace-events").Val()["notify-keyspace-events"]; v != "" {
					t.Errorf("notify-keyspace-events left at %q, want it put back to \"\"", v)
				}
			})
		}
	}
}
