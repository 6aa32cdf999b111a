package scan

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/ratelimit"
)

// The scan's Limits pace it: a cap on keys per second or on bytes per
// second (a big key included, which is paced batch by batch) makes the copy
// wait, no cap makes it wait never, and the copy is complete either way.
// The counts say how far it got: keys scanned and the source's keys.
func TestScanLimits(t *testing.T) {
	src := redistest.Start(t, redistest.Redis80, redistest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sc := src.Client()
	defer sc.Close()
	// 300 strings of 1 KiB and a hash of about 1 MiB, copied page by page: some 1.3 MiB.
	if _, err := sc.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range 300 {
			p.Set(ctx, "s:"+strconv.Itoa(i), strings.Repeat("x", 1024), 0)
		}
		for i := range 1000 {
			p.HSet(ctx, "big", "f"+strconv.Itoa(i), strings.Repeat("y", 1000))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	const keys = 301
	tests := []struct {
		name       string
		ops, bytes int64
		waits      bool
	}{
		{"no limits", 0, 0, false},
		{"300 keys per second", 300, 0, true},
		{"1 MiB per second", 0, 1 << 20, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst := redistest.Start(t, redistest.Valkey91, redistest.Options{})
			opt := options(t, src, dst)
			opt.BigKeyBytes, opt.Chunk, opt.BatchBytes = 64<<10, 100, 128<<10
			opt.Limits = ratelimit.New(tc.ops, tc.bytes)
			var last Stats
			opt.Progress = func(st Stats) { last = st }
			st, err := Run(ctx, opt)
			if err != nil {
				t.Fatal(err)
			}
			waited := opt.Limits.Throttled()
			t.Logf("%s: waited %s; %+v", tc.name, waited, st)
			if (waited > 0) != tc.waits {
				t.Errorf("the copy waited %s for the limits %d keys/s, %d B/s", waited, tc.ops, tc.bytes)
			}
			if st.Big != 1 || st.Scanned < keys || st.Total != keys || last.Scanned != st.Scanned {
				t.Errorf("counts %+v (last progress %+v): want 1 big key, at least %d keys scanned of %d", st, last, keys, keys)
			}
			assertEqual(t, src, dst, 1)
		})
	}
}
