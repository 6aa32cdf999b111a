package redistest

import (
	"context"
	"fmt"
	"os"
	"testing"
)

// TestClusterTopologyChanges moves a cluster through every change the rig
// offers and checks that no key is lost and the slots end where asked.
func TestClusterTopologyChanges(t *testing.T) {
	names := []string{Redis70}
	if os.Getenv("REDFERRY_CLUSTER_MATRIX") != "" {
		// Redis 6.0 builds its clusters differently (cluster_legacy.go).
		names = append(names, Redis60, Valkey91)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			cl := StartClusterWithReplicas(t, name, 3, 1, Options{})
			cc := cl.Client()
			defer cc.Close()
			const n = 300
			for i := 0; i < n; i++ {
				if err := cc.Set(ctx, fmt.Sprint("k", i), i, 0).Err(); err != nil {
					t.Fatal(err)
				}
			}
			slot := cl.SlotOf(t, "k7")
			from := cl.Owner(t, slot)
			to := (from + 1) % 3
			cl.MigrateSlots(t, from, to, slot)
			if got := cl.Owner(t, slot); got != to {
				t.Fatalf("slot %d served by master %d after migrating it to %d", slot, got, to)
			}
			oldAddr := cl.Masters[1].Addr
			cl.Failover(t, 1)
			if cl.Masters[1].Addr == oldAddr || cl.Masters[1].InfoField(t, "replication", "role") != "master" {
				t.Fatalf("failover did not promote the replica of shard 1")
			}
			added := cl.AddMaster(t)
			cl.MigrateSlots(t, 0, added, 0, 1, 2)
			if got := cl.Owner(t, 1); got != added {
				t.Fatalf("slot 1 served by master %d, want the added master %d", got, added)
			}
			cc2 := cl.Client()
			defer cc2.Close()
			for i := 0; i < n; i++ {
				v, err := cc2.Get(ctx, fmt.Sprint("k", i)).Int()
				if err != nil || v != i {
					t.Fatalf("k%d = %d, %v after the topology changes, want %d", i, v, err, i)
				}
			}
		})
	}
}
