package sink

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
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
	flushAt := off
	add("FUNCTION", "LOAD", "#!lua name=cl\nredis.register_function('cl_one', function() return 1 end)")
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
	// The library is on every master.
	for _, m := range cl.Masters {
		mc := m.Client()
		libs, err := mc.FunctionList(ctx, redis.FunctionListQuery{}).Result()
		mc.Close()
		if err != nil || len(libs) != 1 || libs[0].Name != "cl" {
			t.Errorf("FUNCTION LIST on master %s = %v, %v; want the library cl", m.Addr, libs, err)
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
	b2.AddStrings(flushAt, "FLUSHALL")    // covered on every master
	b2.AddStrings(off, "INCR", "after")   // covered
	b2.AddStrings(off+5, "INCR", "after") // new
	b2.Checkpoint = streamCP(off + 5)
	if err := c2.Apply(ctx, b2); err != nil {
		t.Fatal(err)
	}
	if got, _ := client.Get(ctx, "after").Result(); got != "2" {
		t.Errorf("after a replay from the checkpoint, after = %q, want 2 (FLUSHALL and one INCR skipped, one INCR applied)", got)
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

// TestClusterCrossSlotMatchesStandalone runs commands whose keys are in
// different slots on a standalone server and, as a sync would, through the
// cluster sink: both end with the same data.
func TestClusterCrossSlotMatchesStandalone(t *testing.T) {
	cl := redistest.StartCluster(t, redistest.Redis70, 3, redistest.Options{})
	ref := redistest.Start(t, redistest.Redis70, redistest.Options{})
	ctx := ctx(t)
	c := openCluster(t, cl, Config{CheckpointKey: "redferry:checkpoint:t"})
	cmds := [][]string{
		{"RPUSH", "list:a", "1", "2", "3", "4"},
		{"SADD", "set:a", "x", "y", "z"},
		{"SADD", "set:b", "y", "w"},
		{"SET", "str:a", "hello", "PX", "600000"},
		{"SET", "bits:a", "\xff\x0f"},
		{"SET", "bits:b", "\x0f\xff"},
		{"PFADD", "hll:a", "a", "b", "c"},
		{"PFADD", "hll:b", "c", "d"},
		{"ZADD", "z:a", "1", "a", "2", "b"},
		{"ZADD", "z:b", "3", "b", "4", "c"},
		{"INCR", "n:1"},
		{"RENAME", "str:a", "str:b"},
		{"APPEND", "str:b", "!"},
		{"SMOVE", "set:a", "set:c", "x"},
		{"LMOVE", "list:a", "list:b", "RIGHT", "LEFT"},
		{"LMOVE", "list:a", "list:b", "LEFT", "RIGHT"},
		{"RPOPLPUSH", "list:a", "list:c"},
		{"COPY", "set:b", "set:d"},
		{"SUNIONSTORE", "set:u", "set:a", "set:b", "set:c"},
		{"SINTERSTORE", "set:i", "set:a", "set:b"},
		{"SDIFFSTORE", "set:a", "set:a", "set:b"},
		{"ZUNIONSTORE", "z:u", "2", "z:a", "z:b", "WEIGHTS", "1", "2"},
		{"ZINTERSTORE", "z:i", "2", "z:a", "z:b"},
		{"ZRANGESTORE", "z:r", "z:u", "0", "1"},
		{"BITOP", "AND", "bits:c", "bits:a", "bits:b"},
		{"PFMERGE", "hll:c", "hll:a", "hll:b"},
		{"MSET", "m:1", "a", "m:2", "b", "m:3", "c"},
		{"DEL", "m:1", "m:2", "n:1", "set:b"},
		{"RENAMENX", "list:b", "list:d"},
		{"INCR", "n:1"},
	}
	assertClusterRunsLikeStandalone(t, ctx, c, cl, ref, cmds, 7) // batches that split the commands at several places
}

// TestClusterCrossSlotTransactions: a source transaction within one slot is
// applied; one across slots stops with an error naming it, unless
// OnCrossSlot is "split"; a script across slots always stops.
func TestClusterCrossSlotTransactions(t *testing.T) {
	cl := redistest.StartCluster(t, redistest.Redis70, 3, redistest.Options{})
	ctx := ctx(t)
	tests := []struct {
		name, onCrossSlot string
		cmds              [][]string
		atomic            bool
		wantErr           string // "" : applied
	}{
		{"one slot", "stop", [][]string{{"INCR", "{a}x"}, {"INCR", "{a}y"}}, true, ""},
		{"cross-slot stop", "stop", [][]string{{"INCR", "k1"}, {"INCR", "k2"}, {"INCR", "k3"}}, true, "source offsets 1 to 3 (INCR INCR INCR)"},
		{"cross-slot split", "split", [][]string{{"INCR", "k1"}, {"INCR", "k2"}, {"INCR", "k3"}}, true, ""},
		{"script", "split", [][]string{{"EVAL", "return 1", "2", "k1", "k2"}}, false, "EVAL at source offset 1 writes keys in different hash slots"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := openCluster(t, cl, Config{CheckpointKey: "redferry:checkpoint:" + tc.name, OnCrossSlot: tc.onCrossSlot})
			b := &Batch{}
			if tc.atomic {
				b.BeginAtomic()
			}
			for i, cmd := range tc.cmds {
				b.AddStrings(int64(i+1), cmd...)
			}
			if tc.atomic {
				b.EndAtomic()
			}
			b.Checkpoint = streamCP(int64(len(tc.cmds)))
			err := c.Apply(ctx, b)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Apply = %v, want it applied", err)
			case tc.wantErr != "" && (err == nil || !errors.Is(err, ErrCrossSlot) || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("Apply = %v, want ErrCrossSlot saying %q", err, tc.wantErr)
			}
		})
	}
}
