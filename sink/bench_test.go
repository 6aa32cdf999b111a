package sink

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/redferry/redferry/internal/redistest"
)

// The snapshot path's shape: batches of 2000 SETs of 100-byte values, each
// closed by a checkpoint, built by the caller (as the rebuilder does) and
// applied to a real server; one b.N is one key.
func benchApply(b *testing.B, pipelined bool) {
	srv := redistest.Start(b, redistest.Redis70, redistest.Options{Args: []string{"save", ""}})
	s, err := NewStandalone(context.Background(), Config{Addr: srv.Addr, CheckpointKey: "bench:cp", Logger: zap.NewNop()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	val := strings.Repeat("v", 100)
	p := s.NewPipeline()
	batch := &Batch{}
	key := make([]byte, 0, 32)
	b.ReportAllocs()
	b.SetBytes(100)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		key = strconv.AppendInt(append(key[:0], "key:"...), int64(i), 10)
		batch.Add(int64(i), []byte("SET"), key, []byte(val))
		if batch.Len() < 2000 && i != b.N-1 {
			continue
		}
		batch.Checkpoint = strconv.AppendInt(nil, int64(i), 10)
		if pipelined {
			err = p.Apply(ctx, batch, nil)
		} else {
			err = s.Apply(ctx, batch)
		}
		if err != nil {
			b.Fatal(err)
		}
		batch.Reset()
	}
	if err := p.Wait(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "keys/s")
}

func BenchmarkApply(b *testing.B)         { benchApply(b, false) }
func BenchmarkApplyPipeline(b *testing.B) { benchApply(b, true) }

// The cluster target's shape: batches of 2000 SETs whose keys spread over
// every slot, each batch closed by a stream (or snapshot) checkpoint,
// applied to a real 3-master cluster; one b.N is one key.
func benchClusterApply(b *testing.B, snapshot bool) {
	cl := redistest.StartCluster(b, redistest.Redis70, 3, redistest.Options{Args: []string{"save", ""}})
	w, err := Open(context.Background(), Config{Addr: cl.Masters[0].Addr, CheckpointKey: "bench:cp", Logger: zap.NewNop()})
	if err != nil {
		b.Fatal(err)
	}
	c := w.(*Cluster)
	defer c.Close()
	ctx := context.Background()
	val := strings.Repeat("v", 100)
	batch := &Batch{}
	key := make([]byte, 0, 32)
	b.ReportAllocs()
	b.SetBytes(100)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		key = strconv.AppendInt(append(key[:0], "key:"...), int64(i), 10)
		batch.Add(int64(i+1), []byte("SET"), key, []byte(val))
		if batch.Len() < 2000 && i != b.N-1 {
			continue
		}
		if snapshot {
			batch.Checkpoint = snapCP(int64(i + 2))
		} else {
			batch.Checkpoint = streamCP(int64(i + 1))
		}
		if err := c.Apply(ctx, batch); err != nil {
			b.Fatal(err)
		}
		batch.Reset()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "keys/s")
}

func BenchmarkClusterApplyStream(b *testing.B)   { benchClusterApply(b, false) }
func BenchmarkClusterApplySnapshot(b *testing.B) { benchClusterApply(b, true) }
