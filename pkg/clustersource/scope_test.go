package clustersource

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/config"
	"github.com/redferry/redferry/pkg/status"
)

// TestShardDownloadCut: the shards of a cluster source apply their
// snapshots while they download, and one shard's download breaks off half
// applied while the other shards stream into the same target already. That
// shard removes the keys of its slots and takes a new full sync; the others
// go on. In the end the target equals the source (a non-idempotent load ran
// on every shard throughout: nothing was applied twice), and the other
// masters served one full sync each (nothing of theirs was removed, since
// it would not have come back).
func TestShardDownloadCut(t *testing.T) {
	cases := []struct {
		name string
		// cut breaks the slow shard's download off once it is half
		// applied, and returns the supervisor that goes on.
		cut func(t *testing.T, src *redistest.Cluster, cfg config.Config) *runningSV
	}{
		{"the master drops the link", cutByMaster},
		{"redferry killed (SIGKILL)", cutByKill},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := redistest.StartClusterWithReplicas(t, redistest.Valkey91, 3, 0, fast)
			dst := redistest.Start(t, redistest.Valkey91, redistest.Options{})
			fillCluster(t, src, 3000)
			fillLarge(t, src, 6000, 1000)
			// The first master's snapshot (3000 keys, 2 MB: more than the
			// spool's write buffer) comes slowly, 1 ms a key, so that its
			// download can be cut half applied.
			setConfig(t, src.Masters[0], "rdb-key-save-delay", "1000")
			before := syncsServed(t, src)
			ld := startLoad(src, 2)
			cfg := clusterConfig(src, dst, t.TempDir())
			cfg.BatchCommands = 50 // the applied keys show batch by batch
			r := tc.cut(t, src, cfg)
			setConfig(t, src.Masters[0], "rdb-key-save-delay", "0")
			time.Sleep(500 * time.Millisecond) // writes on every shard after the cut
			if n := ld.end(); n == 0 {
				t.Fatal("the load wrote nothing")
			}
			r.waitCaughtUp(t, src)
			rep := assertEqual(t, src, dst)
			after := syncsServed(t, src)
			for i := 1; i < len(after); i++ {
				if d := after[i] - before[i]; d != 1 {
					t.Errorf("master %d served %d full syncs, want 1: only the cut shard syncs again", i, d)
				}
			}
			if d := after[0] - before[0]; d < 2 {
				t.Errorf("the cut shard's master served %d full syncs, want 2 or more", d)
			}
			t.Logf("%d keys equal; full syncs served by the masters: %v", rep.KeysChecked, diff(after, before))
		})
	}
}

// fillLarge writes n random strings of size bytes through a cluster client.
func fillLarge(t *testing.T, src *redistest.Cluster, n, size int) {
	t.Helper()
	c := src.Client()
	defer c.Close()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < n; i += 200 {
		p := c.Pipeline()
		for j := i; j < min(n, i+200); j++ {
			v := make([]byte, size) // random: the snapshot does not compress it
			for k := range v {
				v[k] = byte(rng.Uint32())
			}
			p.Set(ctx, "big:"+strconv.Itoa(j), v, 0)
		}
		if _, err := p.Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

func setConfig(t *testing.T, s *redistest.Server, name, value string) {
	t.Helper()
	c := s.Client()
	defer c.Close()
	if err := c.ConfigSet(context.Background(), name, value).Err(); err != nil {
		t.Fatal(err)
	}
}

func syncsServed(t *testing.T, src *redistest.Cluster) []int {
	t.Helper()
	out := make([]int, len(src.Masters))
	for i, m := range src.Masters {
		out[i], _ = strconv.Atoi(m.InfoField(t, "stats", "sync_full"))
	}
	return out
}

func diff(a, b []int) []int {
	out := make([]int, len(a))
	for i := range a {
		out[i] = a[i] - b[i]
	}
	return out
}

// halfApplied: of n shards, one applies its snapshot while it downloads and
// has applied some of it, and all the others stream.
func halfApplied(shards map[string]status.Report, n int) (bool, string) {
	streaming, cut := 0, ""
	for name, s := range shards {
		switch {
		case s.Phase == status.PhaseStreaming:
			streaming++
		case s.Phase == status.PhaseSnapshotDownload && s.KeysApplied > 0:
			cut = name
		}
	}
	return len(shards) == n && streaming == n-1 && cut != "",
		fmt.Sprintf("%d of %d shards streaming, applying while downloading: %q", streaming, len(shards), cut)
}

func cutByMaster(t *testing.T, src *redistest.Cluster, cfg config.Config) *runningSV {
	r := startSV(t, cfg)
	waitUntil(t, time.Minute, "one shard half applied while the others stream", func() (bool, string) {
		if err := r.failed(); err != nil {
			t.Fatalf("the sync stopped: %v", err)
		}
		return halfApplied(r.sv.Tracker().Report().Shards, len(src.Masters))
	})
	c := src.Masters[0].Client()
	defer c.Close()
	if err := c.Do(context.Background(), "CLIENT", "KILL", "TYPE", "replica").Err(); err != nil {
		t.Fatal(err)
	}
	return r
}

func cutByKill(t *testing.T, src *redistest.Cluster, cfg config.Config) *runningSV {
	p := startRedferryProcess(t, cfg)
	p.waitStatus(t, "one shard half applied while the others stream", func(r status.Report) (bool, string) {
		return halfApplied(r.Shards, len(src.Masters))
	})
	p.kill(t)
	return startSV(t, cfg)
}
