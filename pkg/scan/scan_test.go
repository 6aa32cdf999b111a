package scan

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/server"
	"github.com/redferry/redferry/pkg/verify"
	"github.com/redferry/redferry/sink"
)

const testStateKey = "redferry:checkpoint:test:scan"

func options(t *testing.T, src, dst *redistest.Server) Options {
	return Options{Source: server.ClientOptions{Addr: src.Addr}, Target: sink.Config{Addr: dst.Addr},
		TargetCtl: server.ClientOptions{Addr: dst.Addr}, StateKey: testStateKey, Logger: zaptest.NewLogger(t)}
}

func assertEqual(t *testing.T, src, dst *redistest.Server, rounds int) {
	t.Helper()
	sc, dc := src.Client(), dst.Client()
	defer sc.Close()
	defer dc.Close()
	rep, err := verify.Compare(context.Background(), sc, dc, verify.Options{Rounds: rounds, Interval: 500 * time.Millisecond,
		IgnoreKeys: func(_ int, key string) bool { return key == testStateKey }})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Equal() {
		t.Fatalf("%d differences in %d keys: %v", rep.DiffCount, rep.KeysChecked, rep.Diffs)
	}
	t.Logf("target equals source: %d keys checked", rep.KeysChecked)
}

// Redis86 is the newest Redis the fetch script provides.
const Redis86 = "redis-8.6"

// TestScanCopiesEveryType copies a filled source into an empty target of
// another version, once with DUMP (RESTORE, or rebuilt where the target
// cannot read the dump format) and once with every key read page by page,
// and compares both servers.
func TestScanCopiesEveryType(t *testing.T) {
	tests := []struct {
		src, dst string
		paged    bool
	}{
		{redistest.Redis80, redistest.Redis60, false},
		{redistest.Redis80, redistest.Redis60, true},
		{Redis86, redistest.Valkey91, false},
		{Redis86, redistest.Valkey91, true},
		{redistest.Redis70, redistest.Valkey91, false},
		{redistest.Redis70, redistest.Valkey91, true},
	}
	for _, tc := range tests {
		name := tc.src + "->" + tc.dst
		if tc.paged {
			name += "/paged"
		}
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			src := redistest.Start(t, tc.src, redistest.Options{})
			dst := redistest.Start(t, tc.dst, redistest.Options{})
			sc := src.Client()
			defer sc.Close()
			wl := &redistest.Workload{Seed: 3, Version: src.Version, Functions: tc.dst != redistest.Redis60}
			if err := wl.Fill(ctx, sc, 2000); err != nil {
				t.Fatal(err)
			}
			opt := options(t, src, dst)
			if tc.paged {
				opt.BigKeyBytes, opt.Chunk = 1, 7 // every key, in many pages
			}
			st, err := Run(ctx, opt)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("stats %+v", st)
			if tc.paged && st.Big == 0 {
				t.Errorf("no key was read page by page")
			}
			assertEqual(t, src, dst, 1)
		})
	}
}
