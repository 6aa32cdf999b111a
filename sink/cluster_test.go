package sink

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/checkpoint"
)

const testReplID = "0123456789abcdef0123456789abcdef01234567"

func streamCP(off int64) []byte {
	return checkpoint.State{ReplID: testReplID, Offset: off, Phase: checkpoint.PhaseStreaming, UpdatedAt: time.Now()}.Marshal()
}

func openCluster(t *testing.T, cl *redistest.Cluster, cfg Config) *Cluster {
	t.Helper()
	cfg.Addr = cl.Masters[1].Addr
	cfg.Logger = zaptest.NewLogger(t)
	cfg.IOTimeout = 10 * time.Second
	w, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Open(%s): %v", cl, err)
	}
	c, ok := w.(*Cluster)
	if !ok {
		t.Fatalf("Open(%s) returned a %T, not a *Cluster", cl, w)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestClusterApplyRoutesAndSplits: keys land on their masters, cross-slot
// DEL and MSET are split, FLUSHALL reaches every master, and a restart
// skips exactly what its marks cover.
func TestClusterApplyRoutesAndSplits(t *testing.T) {
	cl := redistest.StartCluster(t, redistest.Redis70, 3, redistest.Options{})
	ctx := ctx(t)
	c := openCluster(t, cl, Config{CheckpointKey: "redferry:checkpoint:t"})
	if got, err := c.LoadCheckpoint(ctx); err != nil || got != nil {
		t.Fatalf("LoadCheckpoint on an empty cluster = %q, %v; want nil, nil", got, err)
	}
	b := &Batch{}
	off := int64(0)
	add := func(args ...string) { off += 10; b.AddStrings(off, args...) }
	for i := range 30 {
		add("INCR", "n:"+strconv.Itoa(i))
		add("RPUSH", "l:"+strconv.Itoa(i), "a")
	}
	add("MSET", "m:1", "1", "m:2", "2", "m:3", "3", "m:4", "4")
	add("MSETNX", "x:1", "1", "x:2", "2")
	add("DEL", "n:0", "n:1", "n:2", "n:3", "m:4")
	add("FLUSHALL")
	add("INCR", "after")
	add("MSET", "m:1", "1", "m:2", "2", "m:3", "3", "m:4", "4")
	add("DEL", "m:1", "m:2")
	b.Checkpoint = streamCP(off)
	if err := c.Apply(ctx, b); err != nil {
		t.Fatal(err)
	}
	client := cl.Client()
	defer client.Close()
	want := map[string]string{"after": "1", "m:3": "3", "m:4": "4"}
	for k, v := range want {
		if got, err := client.Get(ctx, k).Result(); err != nil || got != v {
			t.Errorf("GET %s = %q, %v; want %q", k, got, err, v)
		}
	}
	for _, k := range []string{"m:1", "m:2", "n:5", "x:1"} {
		if n, _ := client.Exists(ctx, k).Result(); n != 0 {
			t.Errorf("%s exists after FLUSHALL/DEL", k)
		}
	}
	// Every master holds marks (its slots written to after the FLUSHALL,
	// and the FLUSHALL's own).
	for _, m := range cl.Masters {
		keys, err := ClusterMarkKeys(ctx, m.Client(), "redferry:checkpoint:t")
		if err != nil || len(keys) == 0 {
			t.Errorf("master %s holds marks %v (%v), want some", m.Addr, keys, err)
		}
	}

	// A restart: the marks say offset off is applied everywhere.
	c2 := openCluster(t, cl, Config{CheckpointKey: "redferry:checkpoint:t"})
	got, err := c2.LoadCheckpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st, err := checkpoint.Unmarshal(got)
	if err != nil || st.Offset != off {
		t.Fatalf("LoadCheckpoint = %+v, %v; want offset %d", st, err, off)
	}
	// Replaying from before off: what is covered is skipped.
	b2 := &Batch{}
	b2.AddStrings(off, "INCR", "after")   // covered
	b2.AddStrings(off+5, "INCR", "after") // new
	b2.Checkpoint = streamCP(off + 5)
	if err := c2.Apply(ctx, b2); err != nil {
		t.Fatal(err)
	}
	if got, _ := client.Get(ctx, "after").Result(); got != "2" {
		t.Errorf("after a replay from the checkpoint, after = %q, want 2 (one INCR skipped, one applied)", got)
	}
}

// TestClusterRefusesNonZeroDB: a write to db 1 of a cluster without
// numbered dbs stops with an error naming db-map.
func TestClusterRefusesNonZeroDB(t *testing.T) {
	cl := redistest.StartCluster(t, redistest.Redis70, 3, redistest.Options{})
	c := openCluster(t, cl, Config{})
	b := &Batch{StartDB: 1}
	b.AddStrings(5, "SET", "k", "v")
	err := c.Apply(ctx(t), b)
	if err == nil || !strings.Contains(err.Error(), "db-map") {
		t.Fatalf("Apply to db 1 = %v, want an error naming db-map", err)
	}
}
