package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redferry/redferry/internal/redistest"
)

// TestScanClusters: `redferry scan` from a node of one cluster into a node
// of another copies the whole cluster (each master SCANned, each key written
// to the master of its slot), and `redferry verify` between the two finds
// no difference.
func TestScanClusters(t *testing.T) {
	src := redistest.StartCluster(t, redistest.Valkey91, 3, redistest.Options{})
	dst := redistest.StartCluster(t, redistest.Redis70, 3, redistest.Options{})
	ctx := context.Background()
	sc, dc := src.Client(), dst.Client()
	defer sc.Close()
	defer dc.Close()
	const keys = 1000
	for i := range keys {
		k := fmt.Sprintf("k:%d", i)
		var err error
		switch i % 3 {
		case 0:
			err = sc.Set(ctx, k, i, 0).Err()
		case 1:
			err = sc.HSet(ctx, k, "f", i, "g", "x").Err()
		case 2:
			err = sc.RPush(ctx, k, i, i+1, i+2).Err()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	out, code := run(t, time.Minute, "scan", "--source", src.Masters[1].URL(), "--target", dst.Masters[2].URL())
	if code != 0 {
		t.Fatalf("scan exited %d:\n%s", code, out)
	}
	if got := logLine(t, out, "scan stopped cleanly")["copied"]; got != float64(keys) {
		t.Errorf("scan copied %v keys, want %d:\n%s", got, keys, out)
	}
	var n int64
	for _, m := range dst.Masters {
		c := m.Client()
		n += c.DBSize(ctx).Val()
		c.Close()
	}
	if n != keys+1 { // the keys and the checkpoint
		t.Errorf("the target cluster holds %d keys, want %d and the checkpoint", n, keys)
	}
	out, code = run(t, time.Minute, "verify", "--source", src.Masters[0].URL(), "--target", dst.Masters[0].URL())
	if code != 0 {
		t.Fatalf("verify after the scan exited %d:\n%s", code, out)
	}
}
