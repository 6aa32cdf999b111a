package sink

import (
	"strconv"
	"testing"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/checkpoint"
)

// TestClusterTargetVersions writes into a cluster target whose topology
// comes from CLUSTER SLOTS (Redis 6.0, no CLUSTER SHARDS) or CLUSTER
// SHARDS (Valkey 9.1): every key lands, cross-slot MSET and DEL are split,
// and a second writer resumes from the marks.
func TestClusterTargetVersions(t *testing.T) {
	for _, version := range []string{redistest.Redis60, redistest.Valkey91} {
		t.Run(version, func(t *testing.T) {
			cl := redistest.StartCluster(t, version, 3, redistest.Options{})
			ctx := ctx(t)
			c := openCluster(t, cl, Config{CheckpointKey: "redferry:checkpoint:v"})
			if len(c.Masters()) != 3 {
				t.Fatalf("the sink sees masters %v, want the cluster's 3", c.Masters())
			}
			b := &Batch{}
			off := int64(0)
			add := func(args ...string) { off += 10; b.AddStrings(off, args...) }
			for i := range 40 {
				add("SET", "k:"+strconv.Itoa(i), strconv.Itoa(i))
			}
			add("MSET", "m:1", "1", "m:2", "2", "m:3", "3")
			add("DEL", "k:0", "k:1", "k:2", "m:3")
			b.Checkpoint = streamCP(off)
			if err := c.Apply(ctx, b); err != nil {
				t.Fatal(err)
			}
			client := cl.Client()
			defer client.Close()
			for i := range 40 {
				k := "k:" + strconv.Itoa(i)
				got, err := client.Get(ctx, k).Result()
				if i < 3 && err == nil || i >= 3 && got != strconv.Itoa(i) {
					t.Errorf("GET %s = %q, %v", k, got, err)
				}
			}
			for k, want := range map[string]int64{"m:1": 1, "m:2": 1, "m:3": 0} {
				if n, err := client.Exists(ctx, k).Result(); err != nil || n != want {
					t.Errorf("EXISTS %s = %d, %v; want %d", k, n, err, want)
				}
			}
			c2 := openCluster(t, cl, Config{CheckpointKey: "redferry:checkpoint:v"})
			got, err := c2.LoadCheckpoint(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if st, err := checkpoint.Unmarshal(got); err != nil || st.Offset != off {
				t.Fatalf("LoadCheckpoint = %+v, %v; want offset %d", st, err, off)
			}
		})
	}
}
