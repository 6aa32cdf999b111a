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
// applied while the other shards stream into the same target already (or
// every shard's does). A cut shard removes the keys of its slots and takes a
// new full sync; the others go on. In the end the target equals the source (a non-idempotent load ran
// on every shard throughout: nothing was applied twice), and the other
// masters served one full sync each (nothing of theirs was removed, since
// it would not have come back).
func TestShardDownloadCut(t *testing.T) {
	cases := []struct {
		name string
		slow int // the first slow masters' downloads are cut; the others' are whole before
		// cut breaks the slow shards' downloads off once they are half
		// applied, and returns the supervisor that goes on.
		cut func(t *testing.T, src *redistest.Cluster, cfg config.Config, slow int) *runningSV
	}{
		{"the master drops the link", 1, cutByMaster},
		{"redferry killed (SIGKILL)", 1, cutByKill},
		// Every shard clears its slots at once after the restart.
		{"redferry killed while every shard downloads", 3, cutByKill},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := redistest.StartClusterWithReplicas(t, redistest.Valkey91, 3, 0, fast)
			dst := redistest.Start(t, redistest.Valkey91, redistest.Options{})
			fillCluster(t, src, 3000)
			fillLarge(t, src, 6000, 1000)
			// A slow master's snapshot (3000 keys, 2 MB: more than the
			// spool's write buffer) comes at 1 ms a key, so that its
			// download can be cut half applied.
			for _, m := range src.Masters[:tc.slow] {
				setConfig(t, m, "rdb-key-save-delay", "1000")
			}
			before := syncsServed(t, src)
			ld := startLoad(t, src, 2)
			cfg := clusterConfig(src, dst, t.TempDir())
			cfg.BatchCommands = 50 // the applied keys show batch by batch
			r := tc.cut(t, src, cfg, tc.slow)
			for _, m := range src.Masters[:tc.slow] {
				setConfig(t, m, "rdb-key-save-delay", "0")
			}
			time.Sleep(500 * time.Millisecond) // writes on every shard after the cut
			if n := ld.end(); n == 0 {
				t.Fatal("the load wrote nothing")
			}
			r.waitCaughtUp(t, src)
			rep := assertEqual(t, src, dst)
			after := syncsServed(t, src)
			for i := range after {
				d := after[i] - before[i]
				if i < tc.slow && d < 2 {
					t.Errorf("master %d, whose download was cut, served %d full syncs, want 2 or more", i, d)
				}
				if i >= tc.slow && d != 1 {
					t.Errorf("master %d served %d full syncs, want 1: only the cut shards sync again", i, d)
				}
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

// halfApplied: of the shards, cut apply their snapshots while they
// download and have applied some of them, and all the others stream.
func halfApplied(shards map[string]status.Report, n, cut int) (bool, string) {
	streaming, half := 0, 0
	for _, s := range shards {
		switch {
		case s.Phase == status.PhaseStreaming:
			streaming++
		case s.Phase == status.PhaseSnapshotDownload && s.KeysApplied > 0:
			half++
		}
	}
	return len(shards) == n && streaming == n-cut && half == cut,
		fmt.Sprintf("of %d shards %d streaming, %d applying while downloading", len(shards), streaming, half)
}

func cutByMaster(t *testing.T, src *redistest.Cluster, cfg config.Config, slow int) *runningSV {
	r := startSV(t, cfg)
	waitUntil(t, time.Minute, "the slow shards half applied while the others stream", func() (bool, string) {
		if err := r.failed(); err != nil {
			t.Fatalf("the sync stopped: %v", err)
		}
		return halfApplied(r.sv.Tracker().Report().Shards, len(src.Masters), slow)
	})
	for _, m := range src.Masters[:slow] {
		c := m.Client()
		err := c.Do(context.Background(), "CLIENT", "KILL", "TYPE", "replica").Err()
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func cutByKill(t *testing.T, src *redistest.Cluster, cfg config.Config, slow int) *runningSV {
	p := startRedferryProcess(t, cfg)
	p.waitStatus(t, "the slow shards half applied while the others stream", func(r status.Report) (bool, string) {
		return halfApplied(r.Shards, len(src.Masters), slow)
	})
	p.kill(t)
	return startSV(t, cfg)
}
