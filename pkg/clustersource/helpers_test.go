package clustersource

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/checkpoint"
	"github.com/redferry/redferry/pkg/config"
	"github.com/redferry/redferry/pkg/server"
	"github.com/redferry/redferry/pkg/status"
	"github.com/redferry/redferry/pkg/syncer"
	"github.com/redferry/redferry/pkg/verify"
)

// Helpers of the cluster source tests: a supervisor in the background, a
// non-idempotent write load through a cluster client, the checks at the end.

type runningSV struct {
	sv       *Supervisor
	stateDir string
	cancel   context.CancelFunc
	done     chan struct{}
	err      error
}

func clusterConfig(src *redistest.Cluster, dst *redistest.Server, stateDir string) config.Config {
	cfg := config.Default()
	cfg.Source, cfg.Target, cfg.StateDir = src.Masters[0].URL(), dst.URL(), stateDir
	cfg.Name = "ct"
	return cfg
}

func startSV(t *testing.T, cfg config.Config) *runningSV {
	t.Helper()
	return startSVGrace(t, cfg, 0)
}

// startSVGrace starts a supervisor whose key migration records expire
// after grace (0: the default).
func startSVGrace(t *testing.T, cfg config.Config, grace time.Duration) *runningSV {
	t.Helper()
	log := zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel))
	opt, err := syncer.OptionsFromConfig(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	sv, err := New(Options{Sync: opt, Shards: cfg.Shards, Logger: log, Poll: 200 * time.Millisecond, ImportGrace: grace})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &runningSV{sv: sv, stateDir: cfg.StateDir, cancel: cancel, done: make(chan struct{})}
	go func() {
		r.err = sv.Run(ctx)
		close(r.done)
	}()
	t.Cleanup(func() { r.stop() })
	return r
}

func (r *runningSV) stop() error {
	if r.sv == nil {
		return r.err
	}
	r.cancel()
	<-r.done
	r.sv.Close()
	r.sv = nil
	return r.err
}

// waitStreaming waits until n shards stream.
func (r *runningSV) waitStreaming(t *testing.T, n int) {
	t.Helper()
	waitUntil(t, 90*time.Second, "every shard streaming", func() (bool, string) {
		if err := r.failed(); err != nil {
			t.Fatalf("the sync stopped: %v", err)
		}
		sh := r.sv.Tracker().Shards()
		streaming := 0
		for _, tr := range sh {
			if tr.Phase() == status.PhaseStreaming {
				streaming++
			}
		}
		return streaming == n && len(sh) == n, fmt.Sprintf("%d of %d shards streaming", streaming, len(sh))
	})
}

func (r *runningSV) failed() error {
	select {
	case <-r.done:
		if r.err == nil {
			return errors.New("Run returned early without an error")
		}
		return r.err
	default:
		return nil
	}
}

// waitCaughtUp waits until every shard's link follows the current master of
// its shard and has applied the master's whole stream.
func (r *runningSV) waitCaughtUp(t *testing.T, src *redistest.Cluster) {
	t.Helper()
	waitUntil(t, 90*time.Second, "every shard caught up", func() (bool, string) {
		if err := r.failed(); err != nil {
			t.Fatalf("the sync stopped: %v", err)
		}
		masters := r.sv.Masters()
		shards := r.sv.Tracker().Shards()
		for _, m := range src.Masters {
			want, _ := strconv.ParseInt(m.InfoField(t, "replication", "master_repl_offset"), 10, 64)
			found := false
			for name, addr := range masters {
				if addr == m.Addr {
					found = true
					if got := shards[name].Applied(); got < want {
						return false, fmt.Sprintf("shard %s applied %d of %d", name, got, want)
					}
				}
			}
			if !found {
				return false, fmt.Sprintf("no link follows master %s yet (%v)", m.Addr, masters)
			}
		}
		return true, ""
	})
}

func waitUntil(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %s", what, why)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// load writes to the source through cluster clients until it ends; a
// write that fails (as during a failover) is not counted and its worker
// pauses before the next one, the source being the reference in the end.
type load struct {
	stop   chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
	writes atomic.Int64
}

// loadStep makes the i-th write of worker w of a load.
type loadStep func(ctx context.Context, c *redis.ClusterClient, w, i int) error

// newLoad makes a load that ends with t at the latest: a test that fails
// (t.Fatal) or skips between starting a load and ending it must not leave
// its workers running. A leaked worker's cluster client keeps retrying the
// stopped cluster's addresses, and once a later test's server binds one of
// them (free ports are reused), it follows the redirects into that
// test's cluster and writes to it: that test's comparison then races a
// load it does not know about (TestClusterScaleOut failed so, with values
// only a 3-worker load writes, after TestAtomicSlotMigrationsConcurrent
// had failed in the same run).
func newLoad(t testing.TB) *load {
	l := &load{stop: make(chan struct{})}
	t.Cleanup(func() { l.end() })
	return l
}

// add starts workers more workers, each with a client of its own, running
// step for i = 0, 1, 2… until the load ends.
func (l *load) add(src *redistest.Cluster, workers int, step loadStep) {
	for w := 0; w < workers; w++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			c := src.Client()
			defer c.Close()
			ctx := context.Background()
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				if err := step(ctx, c, w, i); err == nil {
					l.writes.Add(1)
				} else {
					time.Sleep(20 * time.Millisecond)
				}
			}
		}()
	}
}

// startLoad starts workers writing non-idempotent commands (INCR, LPUSH,
// HINCRBY, DEL of a recreated key).
func startLoad(t testing.TB, src *redistest.Cluster, workers int) *load {
	l := newLoad(t)
	l.add(src, workers, nonIdempotentWrite)
	return l
}

func nonIdempotentWrite(ctx context.Context, c *redis.ClusterClient, w, i int) error {
	n := (i*7 + w) % 64
	switch i % 4 {
	case 0:
		return c.Incr(ctx, fmt.Sprintf("cnt:{%d}", n)).Err()
	case 1:
		return c.LPush(ctx, fmt.Sprintf("list:{%d}", n), i).Err()
	case 2:
		return c.HIncrBy(ctx, fmt.Sprintf("hash:{%d}", n), strconv.Itoa(w), 1).Err()
	default:
		if i%12 == 3 {
			return c.Del(ctx, fmt.Sprintf("tmp:{%d}", n)).Err()
		}
		return c.Append(ctx, fmt.Sprintf("tmp:{%d}", n), "x").Err()
	}
}

// end stops the workers and waits for them; it may be called again.
func (l *load) end() int64 {
	l.once.Do(func() { close(l.stop) })
	l.wg.Wait()
	return l.writes.Load()
}

// fillCluster writes n keys of several types.
func fillCluster(t *testing.T, src *redistest.Cluster, n int) {
	t.Helper()
	c := src.Client()
	defer c.Close()
	ctx := context.Background()
	for i := 0; i < n; i++ {
		var err error
		switch i % 3 {
		case 0:
			err = c.Set(ctx, fmt.Sprintf("str:%d", i), strings.Repeat("v", i%50), 0).Err()
		case 1:
			err = c.SAdd(ctx, fmt.Sprintf("set:%d", i), i, i+1).Err()
		case 2:
			err = c.ZAdd(ctx, fmt.Sprintf("zset:%d", i), redis.Z{Score: float64(i), Member: "m"}).Err()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// assertEqual compares the source cluster with the target, a server or a
// cluster, leaving out redferry's own keys. Given the running supervisor,
// a difference is described with its links' progress and the spooled
// writes of the differing keys too.
func assertEqual[C redis.UniversalClient](t *testing.T, src *redistest.Cluster, dst interface{ Client() C }, running ...*runningSV) verify.Report {
	t.Helper()
	cc, dc := src.Client(), dst.Client()
	defer cc.Close()
	defer dc.Close()
	compare := func() verify.Report {
		rep, err := verify.Compare(context.Background(), cc, dc, verify.Options{
			IgnoreKeys: func(_ int, k string) bool { return strings.HasPrefix(k, checkpoint.KeyPrefix) }})
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	rep := compare()
	if !rep.Equal() {
		// Whether the difference lasts tells a write applied late (or a
		// client's write executed after the load said it ended) from one
		// lost or misordered.
		why := explainDiff(t, src, cc, dc, rep, 2*time.Second)
		for _, r := range running {
			why += "; links: " + r.progress(t, src) + "; spooled writes: " + streamWrites(r.stateDir, diffKeys(rep))
		}
		again := compare()
		t.Fatalf("the target differs from the source cluster: %d diffs, e.g. %v (slots %v); 2 s later %d diffs; %s",
			rep.DiffCount, rep.Diffs[:min(10, len(rep.Diffs))], diffSlots(rep), again.DiffCount, why)
	}
	if rep.KeysChecked == 0 {
		t.Fatal("no key compared")
	}
	return rep
}

// diffSlots are the hash slots of a report's first differing keys.
func diffSlots(rep verify.Report) []int {
	var out []int
	for _, d := range rep.Diffs[:min(10, len(rep.Diffs))] {
		out = append(out, server.KeySlot(d.Key))
	}
	return out
}

// fullSyncs sums sync_full over every node of the cluster: each full sync
// any node served (to its replicas and to redferry).
func fullSyncs(t *testing.T, src *redistest.Cluster) int {
	t.Helper()
	n := 0
	for _, s := range src.Nodes() {
		v, _ := strconv.Atoi(s.InfoField(t, "stats", "sync_full"))
		n += v
	}
	return n
}

// waitImportsExpired waits until no key migration record is left.
func (r *runningSV) waitImportsExpired(t *testing.T) {
	t.Helper()
	waitUntil(t, 60*time.Second, "the key migration records to expire", func() (bool, string) {
		r.sv.migr.mu.Lock()
		n := len(r.sv.migr.imports)
		r.sv.migr.mu.Unlock()
		return n == 0, fmt.Sprintf("%d records left", n)
	})
}
