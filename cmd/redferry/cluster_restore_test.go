package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/config"
	"github.com/redferry/redferry/pkg/verify"
)

// TestRestoreIntoCluster: `redferry restore` into a cluster target routes
// every key to its master; a file with keys in dbs other than 0 is refused
// with a pointer to db-map, and restored with db-map (and filter-dbs).
func TestRestoreIntoCluster(t *testing.T) {
	src := redistest.Start(t, redistest.Redis70, redistest.Options{})
	cl := redistest.StartCluster(t, redistest.Redis70, 3, redistest.Options{})
	c := src.Client()
	defer c.Close()
	wl := &redistest.Workload{Seed: 7, Version: src.Version, Functions: true, DBs: 2}
	if err := wl.Fill(context.Background(), c, 600); err != nil {
		t.Fatal(err)
	}
	file := saveRDB(t, src)
	target := "redis://" + cl.Masters[2].Addr
	cc := cl.Client()
	defer cc.Close()
	compare := func(filterDBs []int, dbMap string) {
		t.Helper()
		cfg := config.Default()
		cfg.FilterDBs, cfg.DBMap = filterDBs, dbMap
		f, err := cfg.Filter()
		if err != nil {
			t.Fatal(err)
		}
		rep, err := verify.Compare(context.Background(), c, cc, verify.Options{Filter: f})
		if err != nil {
			t.Fatal(err)
		}
		if !rep.Equal() {
			t.Fatalf("%d of %d keys differ: %v", rep.DiffCount, rep.KeysChecked, rep.Diffs)
		}
		t.Logf("%d keys equal", rep.KeysChecked)
	}

	out, code := run(t, time.Minute, "restore", "--target", target, file)
	if code != 1 || !strings.Contains(out, "db-map") || !strings.Contains(out, "holds db 0 only") {
		t.Fatalf("restore of a file with db 1 into a cluster: exit %d, want 1 and an error naming db-map:\n%s", code, out)
	}
	if out, code = run(t, time.Minute, "restore", "--target", target, "--flush-target", "--filter-dbs", "0", file); code != 0 {
		t.Fatalf("restore of db 0 exited %d:\n%s", code, out)
	}
	compare([]int{0}, "")
	if out, code = run(t, time.Minute, "restore", "--target", target, "--flush-target", "--filter-dbs", "1", "--db-map", "1:0", file); code != 0 {
		t.Fatalf("restore of db 1 as db 0 exited %d:\n%s", code, out)
	}
	compare([]int{1}, "1:0")
}
