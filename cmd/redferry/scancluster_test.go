package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redferry/redferry/internal/redistest"
)

// TestScanRefusesClusters: until scan supports clusters, a cluster node as
// source or target stops it at start with an error that names the cluster
// side and says what to do, and nothing is written to the target.
func TestScanRefusesClusters(t *testing.T) {
	cl := redistest.StartCluster(t, redistest.Valkey91, 3, redistest.Options{})
	one := redistest.Start(t, redistest.Valkey91, redistest.Options{})
	ctx := context.Background()
	cc := cl.Client()
	defer cc.Close()
	for i := range 300 {
		if err := cc.Set(ctx, fmt.Sprintf("k:%d", i), "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name           string
		source, target string
		side           string // named by the error
		written        func() int64
	}{
		{"cluster source", cl.Masters[1].URL(), one.URL(), "the source " + cl.Masters[1].URL(), func() int64 { return totalKeys(t, one) }},
		{"cluster target", one.URL(), cl.Masters[0].URL(), "the target " + cl.Masters[0].URL(), func() int64 {
			return cc.DBSize(ctx).Val() - 300
		}},
	}
	if err := one.Client().Set(ctx, "standalone", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.written()
			out, code := run(t, time.Minute, "scan", "--source", tc.source, "--target", tc.target, "--merge")
			if code == 0 {
				t.Fatalf("scan with a %s exited 0:\n%s", tc.name, out)
			}
			if !strings.Contains(out, "is a cluster") || !strings.Contains(out, tc.side) {
				t.Fatalf("the error does not say that %s is a cluster:\n%s", tc.side, out)
			}
			if after := tc.written(); after != before {
				t.Fatalf("the target went from %d to %d keys before the refusal", before, after)
			}
			t.Logf("%s", logLine(t, out, "scan stopped")["error"])
		})
	}
}
