package sink

import (
	"errors"
	"strconv"
	"sync"
	"testing"

	"github.com/redferry/redferry/internal/redistest"
)

// The caller refills its one batch while the pipeline applies a copy: every
// batch lands, in order, and done reports each before the next is sent.
func TestPipelineAppliesInOrder(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Redis70, redistest.Options{})
	s := newSink(t, srv, Config{CheckpointKey: "cp"})
	p := s.NewPipeline()
	var (
		mu   sync.Mutex
		done []int
	)
	var b Batch
	const batches = 50
	for i := 0; i < batches; i++ {
		for j := 0; j < 100; j++ {
			b.AddStrings(int64(i*100+j), "RPUSH", "order", strconv.Itoa(i*100+j))
		}
		b.Checkpoint = []byte("cp-" + strconv.Itoa(i))
		i := i
		if err := p.Apply(ctx(t), &b, func(err error) {
			if err != nil {
				t.Errorf("batch %d: %v", i, err)
			}
			mu.Lock()
			done = append(done, i)
			mu.Unlock()
		}); err != nil {
			t.Fatalf("Apply batch %d: %v", i, err)
		}
		b.Reset() // reused at once: the pipeline holds its own copy
	}
	if err := p.Wait(ctx(t)); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	c := srv.Client()
	defer c.Close()
	got, err := c.LRange(ctx(t), "order", 0, -1).Result()
	if err != nil || len(got) != batches*100 {
		t.Fatalf("LRANGE: %d elements, %v; want %d", len(got), err, batches*100)
	}
	for i, v := range got {
		if v != strconv.Itoa(i) {
			t.Fatalf("element %d = %s: batches applied out of order", i, v)
		}
	}
	if cp, _ := s.LoadCheckpoint(ctx(t)); string(cp) != "cp-"+strconv.Itoa(batches-1) {
		t.Errorf("checkpoint %q, want the last batch's", cp)
	}
	for i, d := range done {
		if d != i {
			t.Fatalf("done callbacks out of order: %v", done)
		}
	}
}

// A batch the target refuses stops the pipeline before anything after it
// is written: the checkpoint stays at the batch before it.
func TestPipelineStopsAfterRefusedBatch(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Redis70, redistest.Options{})
	s := newSink(t, srv, Config{CheckpointKey: "cp"})
	p := s.NewPipeline()
	var b Batch
	apply := func(cp string, args ...string) error {
		b.Reset()
		b.AddStrings(1, args...)
		b.Checkpoint = []byte(cp)
		return p.Apply(ctx(t), &b, nil)
	}
	if err := apply("cp-1", "SET", "a", "1"); err != nil {
		t.Fatal(err)
	}
	if err := apply("cp-2", "NOSUCHCMD", "x"); err != nil {
		t.Fatal(err) // its outcome comes with the next call
	}
	err := apply("cp-3", "SET", "b", "2")
	var te *TargetError
	if !errors.Is(err, ErrPipelineFailed) || !errors.As(err, &te) || te.Command != "NOSUCHCMD" {
		t.Fatalf("Apply after a refused batch: %v; want ErrPipelineFailed wrapping the TargetError", err)
	}
	if err := p.Wait(ctx(t)); !errors.Is(err, ErrPipelineFailed) {
		t.Errorf("Wait: %v, want ErrPipelineFailed", err)
	}
	c := srv.Client()
	defer c.Close()
	if n, _ := c.Exists(ctx(t), "b").Result(); n != 0 {
		t.Error("a batch after the refused one was applied")
	}
	if cp, _ := s.LoadCheckpoint(ctx(t)); string(cp) != "cp-1" {
		t.Errorf("checkpoint %q, want cp-1", cp)
	}
}
