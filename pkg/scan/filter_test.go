package scan

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/verify"
	"github.com/redferry/redferry/transform"
)

// scanTestFilter takes source dbs 0 (into target db 2) and 1 (into target
// db 0), keys named keep:* or cache* but not *:secret, and no lists.
func scanTestFilter(t *testing.T) *transform.Filter {
	t.Helper()
	f, err := transform.NewFilter(transform.FilterOptions{DBs: []int{0, 1}, DBMap: map[int]int{0: 2, 1: 0},
		KeysAllow: []string{"prefix:keep:", "glob:cache*"}, KeysDeny: []string{"regex::secret$"}, TypesDrop: []string{"list"}})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// fillFiltered writes n keys of each kind into source dbs 0, 1 and 2: some
// the filter takes, some it leaves out by db, name or type.
func fillFiltered(ctx context.Context, t *testing.T, src *redistest.Server, n int) {
	t.Helper()
	for db := range 3 {
		c := src.ClientDB(db)
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := range n {
				p.Set(ctx, fmt.Sprintf("keep:s%d", i), i, 0)
				p.HSet(ctx, fmt.Sprintf("cache:h%d", i), "f", i, "g", db)
				p.SAdd(ctx, fmt.Sprintf("keep:set%d", i), "a", i)
				p.RPush(ctx, fmt.Sprintf("keep:l%d", i), 1, 2, i)      // dropped: a list
				p.Set(ctx, fmt.Sprintf("keep:%d:secret", i), "x", 0)   // denied
				p.Set(ctx, fmt.Sprintf("other:%d", i), "y", time.Hour) // not allowed
			}
			return nil
		})
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
}

// assertFilteredEqual: the target equals what the filter takes of the
// source (rounds > 1: while the target catches up).
func assertFilteredEqual(t *testing.T, f *transform.Filter, src, dst *redistest.Server, rounds int) {
	t.Helper()
	sc, dc := src.Client(), dst.Client()
	defer sc.Close()
	defer dc.Close()
	rep, err := verify.Compare(context.Background(), sc, dc, verify.Options{Filter: f, Rounds: rounds, Interval: 500 * time.Millisecond,
		IgnoreKeys: func(_ int, key string) bool { return key == testStateKey }})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Equal() {
		t.Fatalf("the target differs from what the filter takes of the source: %d differences in %d keys: %v", rep.DiffCount, rep.KeysChecked, rep.Diffs)
	}
	if rep.KeysChecked == 0 {
		t.Fatal("verify compared no keys")
	}
	t.Logf("target equals what the filter takes: %d keys checked", rep.KeysChecked)
}

// assertOnlyTaken: every key of the target (but the checkpoint and the
// keys named in own, the target's own) is one the filter takes, in the db
// db-map gives.
func assertOnlyTaken(ctx context.Context, t *testing.T, f *transform.Filter, src, dst *redistest.Server, own map[string]bool) {
	t.Helper()
	for db := range 4 {
		dc := dst.ClientDB(db)
		keys, err := dc.Keys(ctx, "*").Result()
		dc.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if (db == 0 && k == testStateKey) || own[fmt.Sprintf("%d/%s", db, k)] {
				continue
			}
			from, ok := f.SourceDB(db)
			if !ok {
				t.Errorf("target db %d holds %q: no source db goes there", db, k)
				continue
			}
			sc := src.ClientDB(from)
			typ := sc.Type(ctx, k).Val()
			sc.Close()
			if keep, reason := f.Key(from, []byte(k), typ); !keep {
				t.Errorf("target db %d holds %q (source db %d, type %s), which the filter leaves out (%s)", db, k, from, typ, reason)
			}
		}
	}
}

// TestScanFilter copies a source with filter-dbs, db-map, key allow and
// deny lists and a dropped type, once (then again over the target, with a
// prune that must leave the target's own keys alone), and live, with
// writes, renames across the filter's boundary and a type change during
// the run.
func TestScanFilter(t *testing.T) {
	if testing.Short() {
		t.Skip("real servers: -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	f := scanTestFilter(t)

	t.Run("once", func(t *testing.T) {
		src := redistest.Start(t, redistest.Redis70, redistest.Options{})
		dst := redistest.Start(t, redistest.Redis70, redistest.Options{})
		fillFiltered(ctx, t, src, 50)
		opt := options(t, src, dst)
		opt.Filter, opt.ScanCount = f, 40
		reasons := map[string]int64{}
		opt.OnFiltered = func(r string) { reasons[r]++ }
		st, err := Run(ctx, opt)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("stats %+v, filtered by reason %v", st, reasons)
		assertFilteredEqual(t, f, src, dst, 1)
		assertOnlyTaken(ctx, t, f, src, dst, nil)
		// dbs 0 and 1: 50 lists (type), 50 denied + 50 not allowed (key);
		// db 2 is not SCANned.
		if want := (map[string]int64{transform.ReasonType: 100, transform.ReasonKey: 200}); fmt.Sprint(reasons) != fmt.Sprint(want) || st.Filtered != 300 {
			t.Errorf("filtered %v (%d), want %v", reasons, st.Filtered, want)
		}

		// The target's own keys (a db no source db goes to, names the
		// filter leaves out) survive the next pass's prune; a taken key
		// the source no longer has does not.
		own := map[string]bool{"1/mine": true, "2/other:mine": true, "0/keep:5:secret": true}
		for k := range own {
			db, key, _ := strings.Cut(k, "/")
			c := dst.ClientDB(int(db[0] - '0'))
			c.Set(ctx, key, "target's own", 0)
			c.Close()
		}
		sc := src.Client()
		sc.Del(ctx, "keep:s7")
		sc.Close()
		st, err = Run(ctx, opt)
		if err != nil {
			t.Fatal(err)
		}
		if st.Deleted != 1 {
			t.Errorf("the prune deleted %d keys, want 1 (keep:s7 of target db 2)", st.Deleted)
		}
		assertFilteredEqual(t, f, src, dst, 1)
		assertOnlyTaken(ctx, t, f, src, dst, own)
		for k := range own {
			db, key, _ := strings.Cut(k, "/")
			c := dst.ClientDB(int(db[0] - '0'))
			if c.Exists(ctx, key).Val() != 1 {
				t.Errorf("the target's own key %s was deleted", k)
			}
			c.Close()
		}
	})

	t.Run("live", func(t *testing.T) {
		src := redistest.Start(t, redistest.Redis70, redistest.Options{})
		dst := redistest.Start(t, redistest.Redis70, redistest.Options{})
		fillFiltered(ctx, t, src, 50)
		opt := options(t, src, dst)
		opt.Filter, opt.Live, opt.ScanCount, opt.Rate = f, true, 20, 600
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
		// Writes during the copy (it takes about a second at this rate).
		for db := range 3 {
			c := src.ClientDB(db)
			for i := range 20 {
				steps := []error{
					c.Set(ctx, fmt.Sprintf("keep:new%d", i), i, 0).Err(),
					c.Set(ctx, fmt.Sprintf("other:new%d", i), i, 0).Err(),
					c.Rename(ctx, fmt.Sprintf("keep:s%d", i), fmt.Sprintf("gone:s%d", i)).Err(),          // taken → left out
					c.Rename(ctx, fmt.Sprintf("other:%d", i), fmt.Sprintf("keep:back%d", i)).Err(),       // left out → taken
					c.Rename(ctx, fmt.Sprintf("cache:h%d", i), fmt.Sprintf("cache:h%d:secret", i)).Err(), // → denied
					c.Del(ctx, fmt.Sprintf("keep:set%d", i)).Err(),
					c.RPush(ctx, fmt.Sprintf("keep:set%d", i), "now a list").Err(), // → a dropped type
					c.HSet(ctx, fmt.Sprintf("cache:h%d", 20+i), "f", "changed").Err(),
				}
				for _, err := range steps {
					if err != nil {
						t.Fatal(err)
					}
				}
				time.Sleep(20 * time.Millisecond)
			}
			c.Close()
		}
		assertFilteredEqual(t, f, src, dst, 20)
		time.Sleep(time.Second) // deletions of keys verify does not look at
		assertOnlyTaken(ctx, t, f, src, dst, nil)
		stopRun()
		wg.Wait()
		if runErr != nil {
			t.Fatal(runErr)
		}
		t.Logf("stats %+v", st)
		if st.Events == 0 || st.Filtered == 0 {
			t.Errorf("want events and filtered keys; stats %+v", st)
		}
	})
}
