package sink

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/server"
)

// TestClusterFollowsASKDuringMigration: a slot is half migrated (one key
// moved, the others, the slot's mark among them, still on the old master)
// while a batch writes to it. The sink is answered ASK and TRYAGAIN until
// the migration ends, then MOVED, and applies every command once.
func TestClusterFollowsASKDuringMigration(t *testing.T) {
	cl := redistest.StartCluster(t, redistest.Redis70, 3, redistest.Options{})
	ctx := ctx(t)
	c := openCluster(t, cl, Config{CheckpointKey: "redferry:checkpoint:m"})
	cc := cl.Client()
	defer cc.Close()
	slot := server.KeySlot("{m}")
	from := cl.Masters[c.topo.ownerOf(slot)]
	to := cl.Masters[(c.topo.ownerOf(slot)+1)%3]
	do := func(s *redistest.Server, args ...any) {
		t.Helper()
		sc := s.Client()
		defer sc.Close()
		if err := sc.Do(ctx, args...).Err(); err != nil {
			t.Fatalf("%v on %s: %v", args, s.Addr, err)
		}
	}
	id := func(s *redistest.Server) string { return redistest.NodeID(t, s) }

	// The slot holds two counters and its mark.
	b := &Batch{}
	b.AddStrings(10, "INCR", "{m}moved")
	b.AddStrings(20, "INCR", "{m}stays")
	b.Checkpoint = streamCP(20)
	if err := c.Apply(ctx, b); err != nil {
		t.Fatal(err)
	}
	do(to, "CLUSTER", "SETSLOT", slot, "IMPORTING", id(from))
	do(from, "CLUSTER", "SETSLOT", slot, "MIGRATING", id(to))
	do(from, "MIGRATE", "127.0.0.1", to.Port, "{m}moved", 0, 10000)

	// A batch writing to the moved key, the one left behind and a new one.
	done := make(chan error, 1)
	go func() {
		b := &Batch{}
		b.AddStrings(30, "INCR", "{m}moved")
		b.AddStrings(40, "INCR", "{m}stays")
		b.AddStrings(50, "INCR", "{m}new")
		b.AddStrings(60, "INCR", "other")
		b.Checkpoint = streamCP(60)
		done <- c.Apply(ctx, b)
	}()
	time.Sleep(700 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("Apply returned while the slot was half migrated (%v): it cannot have applied the slot's commands atomically", err)
	default:
	}
	// The migration ends: the rest of the slot's keys, then SETSLOT NODE.
	fc := from.Client()
	keys, err := fc.ClusterGetKeysInSlot(ctx, slot, 100).Result()
	fc.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		do(from, "MIGRATE", "127.0.0.1", to.Port, k, 0, 10000)
	}
	for _, s := range cl.Masters {
		do(s, "CLUSTER", "SETSLOT", slot, "NODE", id(to))
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Apply did not finish after the migration ended")
	}
	for k, want := range map[string]int{"{m}moved": 2, "{m}stays": 2, "{m}new": 1, "other": 1} {
		got, err := cc.Get(context.Background(), k).Result()
		if err != nil || got != strconv.Itoa(want) {
			t.Errorf("GET %s = %q, %v; want %d (every command applied once)", k, got, err, want)
		}
	}
	if n := c.Stats().Applied; n != 6 {
		t.Errorf("Stats().Applied = %d, want 6", n)
	}
}
