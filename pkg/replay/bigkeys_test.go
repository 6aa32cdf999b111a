package replay_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/replay"
	"github.com/redferry/redferry/sink"
	"github.com/redferry/redferry/transform"
)

// fillBig writes a 200k-field hash, a 1M-element list, a 200k-member set
// and zset, and a 64 MiB string.
func fillBig(t *testing.T, c *redis.Client) {
	t.Helper()
	ctx := context.Background()
	const step = 1000
	args := make([]any, 0, 2*step)
	pipe := c.Pipeline()
	flush := func() {
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 1_000_000; i += step {
		args = args[:0]
		for j := i; j < i+step; j++ {
			args = append(args, fmt.Sprintf("e%d", j))
		}
		pipe.RPush(ctx, "big:list", args...)
		if i < 200_000 {
			pipe.SAdd(ctx, "big:set", args...)
			hargs := make([]any, 0, 2*step)
			zs := make([]redis.Z, 0, step)
			for j := i; j < i+step; j++ {
				hargs = append(hargs, fmt.Sprintf("f%d", j), fmt.Sprintf("v%d", j))
				zs = append(zs, redis.Z{Score: float64(j) / 7, Member: fmt.Sprintf("m%d", j)})
			}
			pipe.HSet(ctx, "big:hash", hargs...)
			pipe.ZAdd(ctx, "big:zset", zs...)
		}
		if i%(50*step) == 0 {
			flush()
		}
	}
	flush()
	r := rand.New(rand.NewSource(1))
	piece := make([]byte, 1<<20)
	for i := 0; i < 64; i++ { // random bytes: LZF cannot shrink them
		r.Read(piece)
		pipe.Append(ctx, "big:string", string(piece))
	}
	flush()
}

// heapPeak samples the Go heap in use while f runs and returns the peak.
func heapPeak(f func()) uint64 {
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	f()
	close(stop)
	wg.Wait()
	return peak.Load()
}

// TestBigKeysBoundedMemory: big keys (a 200k-field hash, a 1M-element
// list, 200k-member set and zset, a 64 MiB string) are replayed in pieces
// with the Go heap far below the snapshot's size, by commands and in auto
// mode (RESTORE for the keys up to RestoreAutoMax; re-encoded values into
// an older target), and the target equals the source.
func TestBigKeysBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("big keys: not in -short")
	}
	src := redistest.Start(t, redistest.Redis70, redistest.Options{})
	fillBig(t, src.Client())
	must(t, src.Client().Save(context.Background()).Err())
	file := filepath.Join(src.Dir, "dump.rdb")
	fi, err := os.Stat(file)
	must(t, err)
	for _, tc := range []struct {
		mode  string
		dst   string
		limit uint64 // heap in use, bytes
	}{
		{transform.ModeCommands, redistest.Redis70, 48 << 20},
		{transform.ModeAuto, redistest.Redis70, 96 << 20},
		// Into 6.0 values are re-encoded until RestoreAutoMax, then the
		// elements taken so far and the rest go as commands.
		{transform.ModeAuto, redistest.Redis60, 96 << 20},
	} {
		t.Run(tc.mode+"->"+tc.dst, func(t *testing.T) {
			dst := redistest.Start(t, tc.dst, redistest.Options{})
			runtime.GC()
			var stats transform.RestoreStats
			start := time.Now()
			peak := heapPeak(func() { stats = loadFile(t, file, dst, tc.mode) })
			t.Logf("%s: snapshot %d MiB, heap in use peak %d MiB, %s, %+v", tc.mode, fi.Size()>>20, peak>>20,
				time.Since(start).Round(time.Millisecond), stats)
			if peak > tc.limit {
				t.Errorf("heap in use peaked at %d MiB (limit %d MiB)", peak>>20, tc.limit>>20)
			}
			compare(t, src, dst)
		})
	}
}

func loadFile(t *testing.T, file string, target *redistest.Server, mode string) transform.RestoreStats {
	t.Helper()
	f, err := os.Open(file)
	must(t, err)
	defer f.Close()
	ctx := context.Background()
	st, err := sink.NewStandalone(ctx, sink.Config{Addr: target.Addr})
	must(t, err)
	defer st.Close()
	var stats transform.RestoreStats
	b := &sink.Batch{}
	flush := func(ctx context.Context, b *sink.Batch, _ int64, db int) error {
		err := st.Apply(ctx, b)
		b.Reset()
		b.StartDB = db
		return err
	}
	_, err = replay.Snapshot(ctx, bufio.NewReaderSize(f, 1<<20), st.Server(), replay.SnapshotOptions{Mode: mode,
		BatchCommands: 2000, BatchBytes: 4 << 20, Stats: &stats, ProbeRestore: st.ProbeRestore}, b, flush, nil)
	must(t, err)
	must(t, st.Apply(ctx, b))
	return stats
}
