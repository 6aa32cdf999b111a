package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/verify"
)

func TestVerifyExitCodesAndReport(t *testing.T) {
	src := redistest.Start(t, redistest.Redis70, redistest.Options{Password: "pw1"})
	dst := redistest.Start(t, redistest.Redis80, redistest.Options{})
	fillSame(t, src, 200)
	fillSame(t, dst, 200)
	out, code := run(t, time.Minute, "verify", "--source", src.URL(), "--target", dst.URL())
	if code != 0 || !strings.Contains(out, "equal:") {
		t.Fatalf("equal servers: exit %d:\n%s", code, out)
	}

	ctx := context.Background()
	dc := dst.Client()
	defer dc.Close()
	dc.Set(ctx, "extra-1", "x", 0)
	dc.Set(ctx, "extra-2", "x", 0)
	report := filepath.Join(t.TempDir(), "diffs.jsonl")
	out, code = run(t, time.Minute, "verify", "--source", src.URL(), "--target", dst.URL(), "--report", report, "--rate", "100000")
	if code != 1 || !strings.Contains(out, "DIFFERENT: 2 differences") {
		t.Fatalf("two extra keys: exit %d (want 1):\n%s", code, out)
	}
	f, err := os.Open(report)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var diffs []verify.Diff
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var d verify.Diff
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			t.Fatalf("report line %q is not JSON: %v", sc.Text(), err)
		}
		diffs = append(diffs, d)
	}
	if len(diffs) != 2 || diffs[0].Kind != verify.KindExtra || !strings.HasPrefix(diffs[0].Key, "extra-") {
		t.Fatalf("report = %+v, want the two extra keys", diffs)
	}

	// Keys that catch up between rounds are not reported.
	go func() {
		time.Sleep(500 * time.Millisecond)
		sc := src.Client()
		defer sc.Close()
		sc.Set(ctx, "extra-1", "x", 0)
		sc.Set(ctx, "extra-2", "x", 0)
	}()
	out, code = run(t, time.Minute, "verify", "--source", src.URL(), "--target", dst.URL(), "--rounds", "3", "--interval", "700ms")
	if code != 0 || !strings.Contains(out, "2 of them caught up") {
		t.Fatalf("keys in flight with --rounds 3: exit %d (want 0):\n%s", code, out)
	}

	out, code = run(t, time.Minute, "verify", "--source", src.URL(), "--target", dst.URL(), "--sample", "50")
	if code != 0 || !strings.Contains(out, "sampled keys checked") {
		t.Fatalf("--sample 50: exit %d:\n%s", code, out)
	}

	// Cannot compare: exit 2 with the reason.
	out, code = run(t, time.Minute, "verify", "--source", src.URL(), "--target", "redis://127.0.0.1:1")
	if code != 2 || !strings.Contains(out, "connection refused") {
		t.Fatalf("unreachable target: exit %d (want 2):\n%s", code, out)
	}
	out, code = run(t, time.Minute, "verify", "--source", "redis://"+src.Addr, "--target", dst.URL())
	if code != 2 || !strings.Contains(out, "NOAUTH") && !strings.Contains(out, "auth") {
		t.Fatalf("missing password: exit %d (want 2):\n%s", code, out)
	}
	// The password from the environment, as for sync.
	cmdOut, cmdCode := runEnv(t, []string{"REDFERRY_SOURCE_PASSWORD=pw1"}, "verify", "--source", "redis://"+src.Addr, "--target", dst.URL())
	if cmdCode != 0 {
		t.Fatalf("password from REDFERRY_SOURCE_PASSWORD: exit %d:\n%s", cmdCode, cmdOut)
	}
}

func TestVerifyClusterSource(t *testing.T) {
	cl := redistest.StartCluster(t, redistest.Valkey91, 3, redistest.Options{})
	dst := redistest.Start(t, redistest.Redis70, redistest.Options{})
	cc := cl.Client()
	defer cc.Close()
	dc := dst.Client()
	defer dc.Close()
	ctx := context.Background()
	for i := 0; i < 200; i++ {
		k := "key:" + string(rune('a'+i%26)) + strings.Repeat("x", i%7)
		cc.Set(ctx, k, i, 0)
		dc.Set(ctx, k, i, 0)
	}
	out, code := run(t, time.Minute, "verify", "--source", "redis://"+cl.Masters[1].Addr, "--target", dst.URL())
	if code != 0 || !strings.Contains(out, "equal:") {
		t.Fatalf("cluster source, equal: exit %d:\n%s", code, out)
	}
	cc.Set(ctx, "only-in-cluster", 1, 0)
	out, code = run(t, time.Minute, "verify", "--source", "redis://"+cl.Masters[0].Addr, "--target", dst.URL())
	if code != 1 || !strings.Contains(out, "only-in-cluster") {
		t.Fatalf("cluster source, one key missing in the target: exit %d:\n%s", code, out)
	}
}

// fillSame writes the same keys (every type, some with a TTL, two dbs)
// whenever it runs: unlike the workload's Fill, no id depends on the clock.
func fillSame(t *testing.T, s *redistest.Server, n int) {
	t.Helper()
	ctx := context.Background()
	for db := 0; db < 2; db++ {
		c := s.ClientDB(db)
		for i := 0; i < n/2; i++ {
			k := "k" + strconv.Itoa(i)
			var err error
			switch i % 5 {
			case 0:
				err = c.Set(ctx, k, "v"+strconv.Itoa(i), time.Hour).Err()
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
				c.Close()
				t.Fatal(err)
			}
		}
		c.Close()
	}
}

// TestVerifyRoundsDuringLiveSync: right after a burst of writes, while the
// sync is still applying them, verify --rounds finds the servers equal.
func TestVerifyRoundsDuringLiveSync(t *testing.T) {
	src := redistest.Start(t, redistest.Redis70, redistest.Options{})
	dst := redistest.Start(t, redistest.Valkey81, redistest.Options{})
	fill(t, src, 300)
	d := startDaemon(t, nil, "--source", src.URL(), "--target", dst.URL(), "--state-dir", t.TempDir())
	c := src.Client()
	defer c.Close()
	wl := &redistest.Workload{Seed: 5, Version: src.Version}
	if err := wl.Run(context.Background(), c, 3000); err != nil {
		t.Fatal(err)
	}
	out, code := run(t, time.Minute, "verify", "--source", src.URL(), "--target", dst.URL(), "--rounds", "5", "--interval", "500ms")
	if code != 0 {
		t.Fatalf("verify --rounds 5 right after a burst exited %d:\n%s\nsync log:\n%s", code, out, d.out.String())
	}
	t.Log(strings.TrimSpace(out))
	d.stop(t)
}
