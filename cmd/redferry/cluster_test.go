package main

import (
	"context"
	"fmt"
	"math/rand"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/verify"
)

// clusterStatus is what the tests read of GET /status for a cluster source.
type clusterStatus struct {
	Phase  string `json:"phase"`
	Shards map[string]struct {
		Phase           string `json:"phase"`
		OffsetReceived  int64  `json:"offset_received"`
		OffsetApplied   int64  `json:"offset_applied"`
		SnapshotApplied int64  `json:"snapshot_applied"`
	} `json:"shards"`
}

func readClusterStatus(addr string) (clusterStatus, bool) {
	var r clusterStatus
	return r, getStatus(addr, &r)
}

func fillCluster(t *testing.T, src *redistest.Cluster, n int) {
	t.Helper()
	c := src.Client()
	defer c.Close()
	ctx := context.Background()
	for i := 0; i < n; i += 100 {
		p := c.Pipeline()
		for j := i; j < min(n, i+100); j++ {
			p.Set(ctx, fmt.Sprintf("k:%d", j), strings.Repeat("v", j%40), 0)
			p.RPush(ctx, fmt.Sprintf("l:%d", j%500), j)
		}
		if _, err := p.Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

func clusterFullSyncs(t *testing.T, src *redistest.Cluster) int {
	n := 0
	for _, s := range src.Nodes() {
		v, _ := strconv.Atoi(s.InfoField(t, "stats", "sync_full"))
		n += v
	}
	return n
}

func assertClusterEqual(t *testing.T, src *redistest.Cluster, dst *redistest.Server) int64 {
	t.Helper()
	cc, dc := src.Client(), dst.Client()
	defer cc.Close()
	defer dc.Close()
	rep, err := verify.Compare(context.Background(), cc, dc, verify.Options{IgnoreKeys: func(_ int, key string) bool {
		return strings.HasPrefix(key, "redferry:checkpoint:")
	}})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Equal() || rep.KeysChecked == 0 {
		t.Fatalf("the target differs from the source cluster in %d of %d keys: %v", rep.DiffCount, rep.KeysChecked, rep.Diffs)
	}
	return rep.KeysChecked
}

// TestClusterKillResume kills `redferry sync` of a 3-master cluster source
// with SIGKILL while the shards replay their snapshots and again while they
// stream, under a non-idempotent write load, and starts it again each time:
// at the end the target equals the source and each master served one full
// sync only.
func TestClusterKillResume(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	src := redistest.StartClusterWithReplicas(t, redistest.Redis80, 3, 0, redistest.Options{
		Args: []string{"repl-diskless-sync-delay", "0"}})
	dst := redistest.Start(t, redistest.Valkey91, redistest.Options{})
	fillCluster(t, src, 6000)
	before := clusterFullSyncs(t, src)

	lc := src.Client()
	defer lc.Close()
	i := 0
	stopLoad := backgroundLoad(t, ctx, 0, func(ctx context.Context) error { // INCR and LPUSH through a cluster client
		if i++; i%2 == 0 {
			lc.Incr(ctx, fmt.Sprintf("cnt:%d", i%97))
		} else {
			lc.LPush(ctx, fmt.Sprintf("l:%d", i%500), i)
		}
		return nil
	})

	rig := newKillRig(t)
	statusAddr := rig.statusAddr
	base := []string{"sync", "--source", src.Masters[1].URL(), "--target", dst.URL(), "--name", "kc",
		"--state-dir", t.TempDir(), "--status-addr", statusAddr, "--batch-commands", "200"}

	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	// The first run's writes are slowed (all shards share the limit) so
	// that the snapshot replay lasts a few seconds and can be hit.
	for _, aim := range []string{"snapshot-replay", "streaming"} {
		args := base
		if aim == "snapshot-replay" {
			args = append(append([]string{}, base...), "--max-ops-per-second", "2000")
		}
		cmd := rig.start(args)
		phase := waitPhase(ctx, statusAddr, aim, 30*time.Second)
		if aim == "snapshot-replay" {
			// Each shard has a checkpoint once its first batch of keys is
			// in: a kill before that costs a new download (as for a
			// standalone source), which is not what this test is about.
			waitUntilStatus(t, statusAddr, func(r clusterStatus) bool {
				for _, s := range r.Shards {
					if s.SnapshotApplied == 0 {
						return false
					}
				}
				return len(r.Shards) == 3
			})
		}
		time.Sleep(time.Duration(50+rng.Intn(300)) * time.Millisecond) // the batch sent has landed
		if p := readPhase(statusAddr); p != "" {
			phase = p
		}
		rig.kill(cmd)
		if phase != aim {
			t.Fatalf("the kill aimed at phase %s landed in %q", aim, phase)
		}
		t.Logf("killed in phase %s", phase)
	}
	_ = stopLoad() // the load's step never fails

	rig.finishCluster(base, src)
	// `redferry status` shows each shard.
	out, code := run(t, time.Minute, "status", "--status-addr", statusAddr)
	if code != 0 || strings.Count(out, "shard ") != 3 || !strings.Contains(out, "streaming, applied") {
		t.Errorf("redferry status of a cluster source (exit %d) does not show its 3 shards streaming:\n%s", code, out)
	}
	// A cutover pauses every master and reports each shard at its master's offset.
	out, code = run(t, time.Minute, "cutover", "--pause", "3s", "--status-addr", statusAddr)
	if code != 0 {
		t.Fatalf("cutover: exit %d\n%s", code, out)
	}
	for _, m := range src.Masters {
		off := m.InfoField(t, "replication", "master_repl_offset")
		if !strings.Contains(out, "current at offset "+off+"\n") {
			t.Errorf("the cutover does not report master %s's offset %s:\n%s", m.Addr, off, out)
		}
	}
	if !strings.Contains(out, "every shard (3)") || !strings.Contains(out, "paused") {
		t.Errorf("the cutover output does not say all 3 shards are current and paused:\n%s", out)
	}
	keys := assertClusterEqual(t, src, dst)
	if got := clusterFullSyncs(t, src) - before; got != 3 {
		t.Errorf("the masters served %d full syncs, want 3 (one per shard, none after a kill)", got)
	}
	t.Logf("%d keys equal after 2 kills", keys)
}

func waitUntilStatus(t *testing.T, addr string, cond func(clusterStatus) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if r, ok := readClusterStatus(addr); ok && cond(r) {
			return
		}
		if time.Now().After(deadline) {
			r, _ := readClusterStatus(addr)
			t.Fatalf("status never reached the expected state: %+v", r)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestClusterShardsSplit syncs one cluster with two processes, --shards 0
// and --shards 1,2 (by index), into one target: together they copy it whole.
func TestClusterShardsSplit(t *testing.T) {
	src := redistest.StartClusterWithReplicas(t, redistest.Valkey91, 3, 0, redistest.Options{Args: []string{"repl-diskless-sync-delay", "0"}})
	dst := redistest.Start(t, redistest.Valkey91, redistest.Options{})
	fillCluster(t, src, 1500)
	for _, shards := range []string{"0", "1,2"} {
		began := time.Now()
		out, code := run(t, time.Minute, "sync", "--source", src.Masters[0].URL(), "--target", dst.URL(), "--name", "split",
			"--state-dir", t.TempDir(), "--shards", shards, "--once")
		t.Logf("--shards %s took %s", shards, time.Since(began))

		if code != 0 {
			t.Fatalf("sync --shards %s: exit %d\n%s", shards, code, out)
		}
	}
	assertClusterEqual(t, src, dst)
}
