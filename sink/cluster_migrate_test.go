package sink

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// TestClusterFollowsASKDuringMigration: a slot is half migrated (one key
// moved, the others, the slot's mark among them, still on the old master)
// while a batch writes to it. The sink is answered ASK and TRYAGAIN until
// the migration ends, then MOVED, and applies every command once.
func TestClusterFollowsASKDuringMigration(t *testing.T) {
	m := startSlotMove(t, "redferry:checkpoint:m")
	ctx, c := m.ctx, m.sink
	cc := m.cl.Client()
	defer cc.Close()

	// The slot holds two counters and its mark.
	b := &Batch{}
	b.AddStrings(10, "INCR", "{m}moved")
	b.AddStrings(20, "INCR", "{m}stays")
	b.Checkpoint = streamCP(20)
	if err := c.Apply(ctx, b); err != nil {
		t.Fatal(err)
	}
	m.begin("{m}moved")

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
	m.end()
	waitApplyAfterMove(t, done)
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
