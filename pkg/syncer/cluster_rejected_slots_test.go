package syncer

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestClusterTargetRecordsEveryRejectedSlot: one batch whose commands a
// cluster target rejects in two slots (of two masters): both are recorded
// with the checkpoint, not only the first slot's, and the commands around
// them are applied.
func TestClusterTargetRecordsEveryRejectedSlot(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	src, cl, sc, cc := startSourceAndCluster(t)
	// a (slot 15495) and b (slot 3300): on two masters.
	must(t, sc.MSet(ctx, "a", "0", "b", "0", "n", "0").Err())
	cfg := testConfig(t, src, cl.Masters[0])
	if _, err := runOnceWith(t, ctx, cfg, false); err != nil {
		t.Fatalf("first sync: %v", err)
	}
	for _, k := range []string{"a", "b"} {
		must(t, cc.Del(ctx, k).Err())
		must(t, cc.RPush(ctx, k, "by-hand").Err())
	}
	if _, err := sc.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Incr(ctx, "a")
		p.Incr(ctx, "n")
		p.Incr(ctx, "b")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	_, err := runOnceWith(t, ctx, cfg, false)
	var re *RejectedError
	if !errors.As(err, &re) {
		t.Fatalf("Run returned %v, want a RejectedError", err)
	}
	var keys []string
	for _, r := range targetCheckpointOf(t, ctx, cc).Rejected {
		keys = append(keys, r.Key)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"a", "b"}) {
		t.Fatalf("the checkpoint records the rejected INCR of %v, want a and b", keys)
	}
	if got := cc.Get(ctx, "n").Val(); got != "1" {
		t.Fatalf("n = %q, want 1 (the rest of the batch applied)", got)
	}
}
