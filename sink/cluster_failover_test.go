package sink

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/redferry/redferry/internal/redistest"
)

// TestClusterSurvivesKilledMaster: a master dies (SIGKILL, no coordinated
// failover); the batch written next waits until the cluster promotes its
// replica, then lands there, once.
func TestClusterSurvivesKilledMaster(t *testing.T) {
	cl := redistest.StartClusterWithReplicas(t, redistest.Redis70, 3, 1, redistest.Options{})
	ctx := ctx(t)
	c := openCluster(t, cl, Config{CheckpointKey: "redferry:checkpoint:f"})
	batch := func(off int64) *Batch {
		b := &Batch{}
		for i := range 60 {
			b.AddStrings(off+int64(i), "INCR", "f:"+strconv.Itoa(i))
		}
		b.Checkpoint = streamCP(off + 59)
		return b
	}
	if err := c.Apply(ctx, batch(100)); err != nil {
		t.Fatal(err)
	}
	cl.Replicas[0][0].WaitCaughtUp(t, cl.Masters[0])
	cl.Masters[0].Kill()
	start := time.Now()
	if err := c.Apply(ctx, batch(200)); err != nil {
		t.Fatalf("Apply after a master died: %v", err)
	}
	t.Logf("the batch after the kill landed in %v", time.Since(start).Round(time.Millisecond))
	cc := cl.Client() // the dead master among its seeds: go-redis asks the others
	defer cc.Close()
	for i := range 60 {
		k := "f:" + strconv.Itoa(i)
		if v, err := cc.Get(context.Background(), k).Result(); err != nil || v != "2" {
			t.Errorf("GET %s = %q, %v; want 2 (both batches, once each)", k, v, err)
		}
	}
}
