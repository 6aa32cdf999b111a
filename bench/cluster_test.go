package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/server"
)

// The "cluster" section: a source cluster of BENCH_CLUSTER_MASTERS masters
// (default 3) holding BENCH_CLUSTER_KEYS 100-byte strings (default 300000)
// spread over every slot. Each interleaved run times, side by side:
//
//   - native: one fresh replica per master (a plain server of the same
//     version, REPLICAOF the master: a master serves a full sync to any
//     replica, cluster-enabled or not), all started at once, each timed
//     until its link is up and its load over;
//   - redferry sync of the cluster (one link per master) into a fresh
//     standalone server and a fresh cluster of as many masters
//     (BENCH_CLUSTER_TARGETS, default standalone,cluster), each shard timed
//     until /status shows it streaming with no lag.
//
// Rows: each shard against its native replica, and the whole (the last
// shard, the last replica) with redferry's peak RSS and CPU. Then redferry
// follows the cluster into each target kind under the catch-up write mix,
// routed to the master of each key's slot, at rising rates (as streaming).

// clusterBench holds what the section's runs share.
type clusterBench struct {
	src    *redistest.Cluster
	owners [server.SlotCount]int // slot → index in src.Masters
	shards map[string]int        // shard name in /status → index in src.Masters
	keys   int64                 // keys in the source, every master
}

func (b *bench) cluster() {
	t := b.t
	masters := envInt("BENCH_CLUSTER_MASTERS", 3)
	n := envInt("BENCH_CLUSTER_KEYS", 300_000)
	cb := &clusterBench{src: redistest.StartCluster(t, b.server, masters, redistest.Options{Args: []string{
		"repl-diskless-sync-delay", "0", "repl-backlog-size", "256mb", "save", "",
	}})}
	cb.owners = slotOwners(t, cb.src)
	cb.shards = shardNames(t, cb.src)
	start := time.Now()
	key := func(i int) string { return "key:" + strconv.Itoa(i) }
	if err := fillRouted(cb.src.Addrs(), &cb.owners, n, key, smallStrings(n, 100)); err != nil {
		t.Fatal(err)
	}
	for _, m := range cb.src.Masters {
		cb.keys += dbsize(t, m)
	}
	dataset := fmt.Sprintf("%d-master cluster, %d strings x 100 B", masters, n)
	t.Logf("filled %s: %d keys in %s", dataset, cb.keys, time.Since(start).Round(time.Millisecond))
	kinds := strings.Split(envStr("BENCH_CLUSTER_TARGETS", "standalone,cluster"), ",")
	for _, k := range kinds {
		if k != "standalone" && k != "cluster" {
			t.Fatalf("BENCH_CLUSTER_TARGETS: %q is neither standalone nor cluster", k)
		}
	}
	b.clusterFullSync(cb, dataset, kinds)
	for _, k := range kinds {
		b.clusterStreaming(cb, k)
	}
	for _, m := range cb.src.Masters {
		m.Stop()
	}
}

// shardRun is one full sync of every shard: seconds per master, and in
// total.
type shardRun struct {
	perShard []float64
	total    float64
}

func (b *bench) clusterFullSync(cb *clusterBench, dataset string, kinds []string) {
	t := b.t
	masters := len(cb.src.Masters)
	reps := envInt("BENCH_REPS", 3)
	var native []shardRun
	var nativeCPU []float64
	rf := make(map[string][]shardRun)
	tgtCPU := make(map[string][]float64)
	rfCPU := make(map[string][]float64)
	rss := make(map[string]float64)
	notes := make(map[string]string)
	for rep := 0; rep < reps; rep++ {
		took, replicas := nativeSyncAll(t, cb.src.Masters, b.server)
		run := shardRun{}
		var cpu float64
		for i, d := range took {
			run.perShard = append(run.perShard, d.Seconds())
			run.total = max(run.total, d.Seconds())
			cpu += serverCPU(t, replicas[i])
			replicas[i].Stop()
		}
		native = append(native, run)
		nativeCPU = append(nativeCPU, cpu)
		for _, kind := range kinds {
			tgt := b.startTarget(kind, masters)
			p := startRedferryURL(t, cb.src.Masters[0].URL(), tgt.url, t.TempDir(), false)
			run, err := cb.waitShardsStreaming(p, 30*time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			p.stop(time.Minute)
			if os.Getenv("BENCH_LOG") != "" {
				t.Logf("redferry output:\n%s", tail(p.out.String()))
			}
			if got := tgt.dataKeys(t); got != cb.keys {
				notes[kind] = fmt.Sprintf("TARGET HAS %d KEYS, SOURCE %d", got, cb.keys)
			}
			rf[kind] = append(rf[kind], run)
			tgtCPU[kind] = append(tgtCPU[kind], tgt.cpu(t))
			rfCPU[kind] = append(rfCPU[kind], p.cpu.Seconds())
			rss[kind] = max(rss[kind], p.rssMB)
			tgt.stop()
		}
	}
	note := "until every shard streams (native: until every replica is in sync)"
	if reps > 1 {
		note = fmt.Sprintf("median of %d; %s", reps, note)
	}
	for _, kind := range kinds {
		into := "into a standalone server"
		if kind == "cluster" {
			into = fmt.Sprintf("into a %d-master cluster", masters)
		}
		for i := 0; i < masters; i++ {
			b.add(row{Test: fmt.Sprintf("cluster shard %d", i+1), Dataset: fmt.Sprintf("%s, %s", cb.shardDesc(t, i), into), Unit: "s",
				Baseline: median(shardCol(native, i)), Redferry: median(shardCol(rf[kind], i)),
				Note: "full sync of this master; native: its own replica, all at once"})
		}
		b.add(row{Test: "cluster sync", Dataset: dataset + ", " + into, Unit: "s",
			Baseline: median(totals(native)), Redferry: median(totals(rf[kind])), PeakRSSMB: rss[kind],
			BaselineTargetCPU: median(nativeCPU), TargetCPU: median(tgtCPU[kind]), RedferryCPU: median(rfCPU[kind]),
			Note: strings.TrimSpace(notes[kind] + " " + note)})
	}
}

func shardCol(runs []shardRun, i int) []float64 {
	out := make([]float64, len(runs))
	for r, run := range runs {
		out[r] = run.perShard[i]
	}
	return out
}

func totals(runs []shardRun) []float64 {
	out := make([]float64, len(runs))
	for r, run := range runs {
		out[r] = run.total
	}
	return out
}

// shardDesc names master i by its slots and keys.
func (cb *clusterBench) shardDesc(t *testing.T, i int) string {
	first, last := -1, -1
	for s, o := range cb.owners {
		if o == i {
			if first < 0 {
				first = s
			}
			last = s
		}
	}
	return fmt.Sprintf("slots %d-%d, %d keys", first, last, dbsize(t, cb.src.Masters[i]))
}

// clusterStatusReport is what the bench reads of /status for a cluster
// source: the totals and each shard.
type clusterStatusReport struct {
	statusReport
	Shards map[string]statusReport `json:"shards"`
}

func (p *rfProc) clusterStatus() (clusterStatusReport, error) {
	var r clusterStatusReport
	resp, err := httpc.Get("http://" + p.statusAddr + "/status")
	if err != nil {
		return r, err
	}
	defer resp.Body.Close()
	return r, json.NewDecoder(resp.Body).Decode(&r)
}

// waitShardsStreaming polls /status until every shard of the source streams
// with no lag, and returns when each got there, from redferry's start.
func (cb *clusterBench) waitShardsStreaming(p *rfProc, timeout time.Duration) (shardRun, error) {
	masters := len(cb.src.Masters)
	run := shardRun{perShard: make([]float64, masters)}
	left := masters
	deadline := time.Now().Add(timeout)
	for left > 0 {
		if time.Now().After(deadline) {
			return run, fmt.Errorf("bench: %d of %d shards not streaming after %s; output:\n%s", left, masters, timeout, tail(p.out.String()))
		}
		r, err := p.clusterStatus()
		at := time.Since(p.start).Seconds()
		if err == nil {
			for name, s := range r.Shards {
				i, ok := cb.shards[name]
				if !ok {
					return run, fmt.Errorf("bench: /status names shard %q, not a master of the source (%v)", name, cb.shards)
				}
				if run.perShard[i] == 0 && s.Phase == "streaming" && s.LagBytes == 0 {
					run.perShard[i] = at
					run.total = max(run.total, at)
					left--
				}
			}
		}
		select {
		case <-p.waited:
			return run, fmt.Errorf("bench: redferry exited: %v; output:\n%s", p.err, tail(p.out.String()))
		case <-time.After(10 * time.Millisecond):
		}
	}
	return run, nil
}

// nativeSyncAll makes one fresh server a replica of each master, all at
// once, and returns how long each full sync took (REPLICAOF until the link
// is up and the load is over). The replicas are left running, detached.
func nativeSyncAll(t *testing.T, masters []*redistest.Server, name string) ([]time.Duration, []*redistest.Server) {
	t.Helper()
	ctx := context.Background()
	replicas := make([]*redistest.Server, len(masters))
	for i := range masters {
		replicas[i] = redistest.Start(t, name, redistest.Options{})
	}
	starts := make([]time.Time, len(masters))
	took := make([]time.Duration, len(masters))
	for i, m := range masters {
		c := replicas[i].Client()
		starts[i] = time.Now()
		err := c.Do(ctx, "REPLICAOF", "127.0.0.1", m.Port).Err()
		c.Close()
		if err != nil {
			t.Fatalf("bench: REPLICAOF %s: %v", m.Addr, err)
		}
	}
	left := len(masters)
	deadline := time.Now().Add(30 * time.Minute)
	for left > 0 {
		for i, r := range replicas {
			if took[i] > 0 {
				continue
			}
			info := r.InfoField(t, "replication", "master_link_status") + "," + r.InfoField(t, "replication", "master_sync_in_progress")
			if info == "up,0" {
				took[i] = time.Since(starts[i])
				left--
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("bench: %d native replicas not in sync after 30 min", left)
		}
		time.Sleep(2 * time.Millisecond)
	}
	for _, r := range replicas {
		c := r.Client()
		_ = c.Do(ctx, "REPLICAOF", "NO", "ONE").Err()
		c.Close()
	}
	return took, replicas
}

// benchTarget is a fresh target: a standalone server or a cluster.
type benchTarget struct {
	url   string
	nodes []*redistest.Server // the server, or the cluster's masters
	owner *[server.SlotCount]int
}

func (b *bench) startTarget(kind string, masters int) *benchTarget {
	args := redistest.Options{Args: []string{"save", ""}}
	if kind == "cluster" {
		cl := redistest.StartCluster(b.t, b.server, masters, args)
		owners := slotOwners(b.t, cl)
		return &benchTarget{url: cl.Masters[0].URL(), nodes: cl.Masters, owner: &owners}
	}
	s := redistest.Start(b.t, b.server, args)
	return &benchTarget{url: s.URL(), nodes: []*redistest.Server{s}}
}

// dataKeys counts the target's keys less redferry's own (checkpoints and
// marks, named redferry:…).
func (tg *benchTarget) dataKeys(t *testing.T) int64 {
	var n int64
	for _, s := range tg.nodes {
		n += dbsize(t, s) - countPrefix(t, s, "redferry:")
	}
	return n
}

func (tg *benchTarget) cpu(t *testing.T) float64 {
	var sum float64
	for _, s := range tg.nodes {
		sum += serverCPU(t, s)
	}
	return sum
}

func (tg *benchTarget) stop() {
	for _, s := range tg.nodes {
		s.Stop()
	}
}

func (tg *benchTarget) addrs() []string {
	out := make([]string, len(tg.nodes))
	for i, s := range tg.nodes {
		out[i] = s.Addr
	}
	return out
}

// route returns the index in addrs() of the node that takes key.
func (tg *benchTarget) route(key string) int {
	if tg.owner == nil {
		return 0
	}
	return tg.owner[server.KeySlot(key)]
}

// clusterStreaming: redferry follows the source cluster into a fresh target
// of kind while the write mix, routed by slot, rises as in streaming; the
// baseline is that target's raw ingest of the same mix.
func (b *bench) clusterStreaming(cb *clusterBench, kind string) {
	t := b.t
	masters := len(cb.src.Masters)
	raw := b.startTarget(kind, masters)
	rawRate, err := rawIngestRouted(raw, envInt("BENCH_CLUSTER_RAW", 600_000))
	raw.stop()
	if err != nil {
		t.Fatal(err)
	}
	tgt := b.startTarget(kind, masters)
	p := startRedferryURL(t, cb.src.Masters[0].URL(), tgt.url, t.TempDir(), false)
	if _, err := cb.waitShardsStreaming(p, 10*time.Minute); err != nil {
		t.Fatal(err)
	}
	pipes := make([]*pipe, masters)
	for i, a := range cb.src.Addrs() {
		if pipes[i], err = dialPipe(a); err != nil {
			t.Fatal(err)
		}
		defer pipes[i].close()
	}
	route := func(i int) int { return cb.owners[server.KeySlot(mixKey(i))] }
	bestAchieved, bounded := b.ramp(p, 10_000, func(rate float64, d time.Duration) (float64, float64, error) {
		return driveRouted(pipes, route, p, rate, d)
	})
	p.stop(time.Minute)
	into := "a standalone server"
	if kind == "cluster" {
		into = fmt.Sprintf("a %d-master cluster", masters)
	}
	note := "source write rate over every master (the catch-up mix, by slot); baseline: the target's raw ingest"
	if bounded {
		note += "; bounded by the load generator, not redferry"
	}
	b.add(row{Test: "cluster streaming", Dataset: "highest rate with lag < 1 s, into " + into, Unit: "cmd/s",
		Baseline: rawRate, Redferry: bestAchieved, PeakRSSMB: p.rssMB, RedferryCPU: p.cpu.Seconds(), Note: note})
	tgt.stop()
}

// rawIngestRouted is the rate at which tg takes n commands of the write
// mix, pipelined, each to the node of its key.
func rawIngestRouted(tg *benchTarget, n int) (float64, error) {
	start := time.Now()
	err := fillRouted(tg.addrs(), tg.owner, n, mixKey, mixCmd)
	return float64(n) / time.Since(start).Seconds(), err
}

// fillRouted sends n commands made by gen, each through the pipelined
// connection to addrs[owner[slot of key(i)]] (owner nil: addrs[0]).
func fillRouted(addrs []string, owner *[server.SlotCount]int, n int, key func(int) string, gen func([]byte, int) []byte) error {
	pipes := make([]*pipe, len(addrs))
	for i, a := range addrs {
		p, err := dialPipe(a)
		if err != nil {
			return err
		}
		defer p.close()
		pipes[i] = p
	}
	var buf []byte
	for i := 0; i < n; i++ {
		to := 0
		if owner != nil {
			to = owner[server.KeySlot(key(i))]
		}
		buf = gen(buf[:0], i)
		p := pipes[to]
		if err := p.send(buf); err != nil {
			return err
		}
		// Keep the replies from piling up far behind (bounded memory).
		if i%100_000 == 99_999 {
			for _, q := range pipes {
				for q.sent.Load()-q.replies.Load() > 200_000 {
					time.Sleep(time.Millisecond)
				}
			}
		}
	}
	for i, p := range pipes {
		if err := p.wait(10 * time.Minute); err != nil {
			return err
		}
		if e := p.errs.Load(); e > 0 {
			return fmt.Errorf("bench: fill of %s: %d commands refused", addrs[i], e)
		}
	}
	return nil
}

// slotOwners maps each slot to the index in cl.Masters of its master
// (CLUSTER SLOTS, one read).
func slotOwners(t *testing.T, cl *redistest.Cluster) [server.SlotCount]int {
	t.Helper()
	c := cl.Masters[0].Client()
	defer c.Close()
	slots, err := c.ClusterSlots(context.Background()).Result()
	if err != nil {
		t.Fatalf("bench: CLUSTER SLOTS: %v", err)
	}
	idx := make(map[string]int)
	for i, m := range cl.Masters {
		idx[m.Addr] = i
	}
	var owners [server.SlotCount]int
	seen := 0
	for _, r := range slots {
		i, ok := idx[r.Nodes[0].Addr]
		if !ok {
			t.Fatalf("bench: CLUSTER SLOTS names %s, not a master of %s", r.Nodes[0].Addr, cl)
		}
		for s := r.Start; s <= r.End; s++ {
			owners[s] = i
			seen++
		}
	}
	if seen != server.SlotCount {
		t.Fatalf("bench: CLUSTER SLOTS covers %d slots of %d", seen, server.SlotCount)
	}
	return owners
}

// shardNames maps the names redferry may give each shard (the master's
// node id, or its shard id on 7.2+) to the master's index.
func shardNames(t *testing.T, cl *redistest.Cluster) map[string]int {
	t.Helper()
	out := make(map[string]int)
	for i, m := range cl.Masters {
		out[redistest.NodeID(t, m)] = i
		c := m.Client()
		if id, err := c.Do(context.Background(), "CLUSTER", "MYSHARDID").Text(); err == nil {
			out[id] = i
		}
		c.Close()
	}
	return out
}

// countPrefix counts the keys of db 0 whose names start with prefix (SCAN).
func countPrefix(t *testing.T, s *redistest.Server, prefix string) int64 {
	t.Helper()
	c := s.Client()
	defer c.Close()
	var n int64
	it := c.Scan(context.Background(), 0, prefix+"*", 1000).Iterator()
	for it.Next(context.Background()) {
		n++
	}
	if err := it.Err(); err != nil {
		t.Fatalf("bench: SCAN %s on %s: %v", prefix, s.Addr, err)
	}
	return n
}
