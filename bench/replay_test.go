package bench

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/zap"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/replay"
	"github.com/redferry/redferry/sink"
	"github.com/redferry/redferry/transform"
)

// BenchmarkSnapshotReplay drives the snapshot path of `redferry sync` in
// process (decode → rebuild → sink) for pprof, on three datasets: 100k
// 100-byte strings, the mixed dataset of the full-sync bench (20k keys of
// every type) and the big-key dataset at 1/64 of full size:
//
//	go test ./bench/ -run '^$' -bench 'SnapshotReplay/mixed/commands' -cpuprofile cpu.prof
//
// The sub-benchmarks apply each batch and wait (sync), or build the next
// batch while the target executes the previous one (pipeline).
func BenchmarkSnapshotReplay(b *testing.B) {
	for _, ds := range []struct {
		name string
		fill func(*redistest.Server) error
	}{
		{"strings", func(src *redistest.Server) error { return fillWith(src.Addr, 100_000, smallStrings(100_000, 100)) }},
		{"mixed", func(src *redistest.Server) error { return fillMixed(src, 20_000) }},
		{"big", func(src *redistest.Server) error { return bigKeys{scale: 64}.fill(src.Addr) }},
	} {
		b.Run(ds.name, func(b *testing.B) {
			src := redistest.Start(b, redistest.Redis70, redistest.Options{Args: []string{"save", ""}})
			if err := ds.fill(src); err != nil {
				b.Fatal(err)
			}
			c := src.Client()
			if err := c.Do(context.Background(), "SAVE").Err(); err != nil {
				b.Fatal(err)
			}
			c.Close()
			rdb, err := os.ReadFile(filepath.Join(src.Dir, "dump.rdb"))
			if err != nil {
				b.Fatal(err)
			}
			src.Stop()
			benchReplayModes(b, rdb)
		})
	}
}

func benchReplayModes(b *testing.B, rdb []byte) {
	for _, bc := range []struct{ name, mode, replay string }{
		{"commands/sync", "sync", transform.ModeCommands},
		{"commands/pipeline", "pipeline", transform.ModeCommands},
		{"auto/sync", "sync", transform.ModeAuto},
		{"auto/pipeline", "pipeline", transform.ModeAuto},
		{"restore/sync", "sync", transform.ModeRestore},
		{"restore/pipeline", "pipeline", transform.ModeRestore},
	} {
		mode := bc.mode
		b.Run(bc.name, func(b *testing.B) {
			tgt := redistest.Start(b, redistest.Redis70, redistest.Options{Args: []string{"save", ""}})
			s, err := sink.NewStandalone(context.Background(), sink.Config{Addr: tgt.Addr, CheckpointKey: "bench:cp", Logger: zap.NewNop()})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			p := s.NewPipeline()
			flush := func(ctx context.Context, batch *sink.Batch, resumeAt int64, db int) error {
				batch.Checkpoint = []byte("cp")
				var err error
				if mode == "pipeline" {
					err = p.Apply(ctx, batch, nil)
				} else {
					err = s.Apply(ctx, batch)
				}
				batch.Reset()
				return err
			}
			b.SetBytes(int64(len(rdb)))
			b.ResetTimer()
			tc := tgt.Client()
			defer tc.Close()
			var keys int64
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				if err := tc.FlushAll(context.Background()).Err(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				batch := &sink.Batch{}
				res, err := replay.Snapshot(context.Background(), bufio.NewReaderSize(bytes.NewReader(rdb), 1<<20), s.Server(),
					replay.SnapshotOptions{BatchCommands: 2000, BatchBytes: 4 << 20, Mode: bc.replay}, batch, flush, nil)
				if err == nil {
					err = flush(context.Background(), batch, 0, 0)
				}
				if err == nil {
					err = p.Wait(context.Background())
				}
				if err != nil {
					b.Fatalf("replay: %d keys, %v", res.Keys, err)
				}
				keys = res.Keys
			}
			b.ReportMetric(float64(int64(b.N)*keys)/b.Elapsed().Seconds(), "keys/s")
		})
	}
}
