package scan

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap/zaptest"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/server"
	"github.com/redferry/redferry/pkg/verify"
	"github.com/redferry/redferry/sink"
	"github.com/redferry/redferry/transform"
)

// clusterOptions are the Options of a scan between a and b, each a
// standalone server or a node of a cluster (the one given).
func clusterOptions(t *testing.T, srcAddr, dstAddr string) Options {
	return Options{Source: server.ClientOptions{Addr: srcAddr}, Target: sink.Config{Addr: dstAddr},
		TargetCtl: server.ClientOptions{Addr: dstAddr}, StateKey: testStateKey, Logger: zaptest.NewLogger(t)}
}

// fillCluster writes n keys of every type through a cluster client: TTLs,
// hash-tagged keys, a few big ones (copied page by page under a small
// BigKeyBytes) and a stream with a consumer group and pending entries.
func fillCluster(ctx context.Context, t *testing.T, c redis.Cmdable, n int, seed int64) {
	t.Helper()
	r := rand.New(rand.NewSource(seed))
	for i := range n {
		k := "k:" + strconv.Itoa(i)
		if i%10 == 0 {
			k = "{tag" + strconv.Itoa(i%7) + "}:" + strconv.Itoa(i)
		}
		size := 3
		if i%200 == 0 {
			size = 300 // big under BigKeyBytes 2048
		}
		var err error
		switch i % 6 {
		case 0:
			err = c.Set(ctx, k, strconv.Itoa(r.Int()), 0).Err()
		case 1:
			args := []any{}
			for f := range size {
				args = append(args, "f"+strconv.Itoa(f), r.Intn(1000))
			}
			err = c.HSet(ctx, k, args...).Err()
		case 2:
			args := []any{}
			for e := range size {
				args = append(args, "e"+strconv.Itoa(e))
			}
			err = c.RPush(ctx, k, args...).Err()
		case 3:
			args := []any{}
			for e := range size {
				args = append(args, "m"+strconv.Itoa(e))
			}
			err = c.SAdd(ctx, k, args...).Err()
		case 4:
			zs := []redis.Z{}
			for e := range size {
				zs = append(zs, redis.Z{Score: r.Float64() * 100, Member: "z" + strconv.Itoa(e)})
			}
			err = c.ZAdd(ctx, k, zs...).Err()
		case 5:
			for e := range size {
				if err = c.XAdd(ctx, &redis.XAddArgs{Stream: k, Values: []any{"e", e}}).Err(); err != nil {
					break
				}
			}
			if err == nil && i%12 == 5 {
				err = c.XGroupCreate(ctx, k, "g", "0").Err()
				if err == nil {
					err = c.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g", Consumer: "c1", Streams: []string{k, ">"}, Count: 2}).Err()
				}
			}
		}
		if err == nil && i%5 == 0 {
			err = c.Expire(ctx, k, time.Hour+time.Duration(i)*time.Second).Err()
		}
		if err != nil {
			t.Fatalf("filling key %s: %v", k, err)
		}
	}
}

// assertSame compares source and target (each a *redis.Client or a
// *redis.ClusterClient) with verify, leaving out the checkpoint.
func assertSame(t *testing.T, src, dst redis.UniversalClient, rounds int) {
	t.Helper()
	rep, err := verify.Compare(context.Background(), src, dst, verify.Options{Rounds: rounds, Interval: 500 * time.Millisecond,
		IgnoreKeys: func(_ int, key string) bool { return key == testStateKey }})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Equal() {
		t.Fatalf("%d differences in %d keys: %v", rep.DiffCount, rep.KeysChecked, rep.Diffs)
	}
	t.Logf("target equals source: %d keys checked", rep.KeysChecked)
}

// TestScanClusterToStandalone copies a cluster (each master SCANned, keys
// read from their own master) into a standalone server of another
// version. The source refuses DUMP, as some managed services do: every key
// is read page by page with its type's commands (the DUMP path of a
// cluster source is TestScanClusterToClusterLive's).
func TestScanClusterToStandalone(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl := redistest.StartCluster(t, redistest.Redis70, 3, redistest.Options{Argv: []string{"--rename-command", "DUMP", ""}})
	dst := redistest.Start(t, redistest.Valkey91, redistest.Options{})
	cc := cl.Client()
	defer cc.Close()
	fillCluster(ctx, t, cc, 3000, 1)
	opt := clusterOptions(t, cl.Masters[1].Addr, dst.Addr)
	st, err := Run(ctx, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stats %+v", st)
	if st.Big != 3000 || st.Scanned != 3000 {
		t.Errorf("want 3000 keys scanned over the masters, all copied page by page; stats %+v", st)
	}
	dc := dst.Client()
	defer dc.Close()
	assertSame(t, cc, dc, 1)
	for _, m := range cl.Masters {
		c := m.Client()
		if v := c.ConfigGet(ctx, "notify-keyspace-events").Val()["notify-keyspace-events"]; v != "" {
			t.Errorf("master %s: notify-keyspace-events left at %q, want it put back to \"\"", m.Addr, v)
		}
		c.Close()
	}
}

// TestScanStandaloneToCluster copies every type (functions included) into
// a cluster: each key to the master of its slot, the libraries to every
// master. A source with keys in another db than 0 is refused before
// anything is written.
func TestScanStandaloneToCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	src := redistest.Start(t, redistest.Redis80, redistest.Options{})
	cl := redistest.StartCluster(t, redistest.Valkey91, 3, redistest.Options{})
	sc := src.Client()
	defer sc.Close()
	cc := cl.Client()
	defer cc.Close()
	wl := &redistest.Workload{Seed: 5, Version: src.Version, DBs: 1, Functions: true}
	if err := wl.Fill(ctx, sc, 2000); err != nil {
		t.Fatal(err)
	}
	opt := clusterOptions(t, src.Addr, cl.Masters[2].Addr)
	opt.BigKeyBytes = 4096
	st, err := Run(ctx, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stats %+v", st)
	if st.Big == 0 {
		t.Errorf("no key was copied page by page; stats %+v", st)
	}
	assertSame(t, sc, cc, 1)
	want := sc.FunctionList(ctx, redis.FunctionListQuery{}).Val()
	if len(want) == 0 {
		t.Fatal("the workload loaded no function library")
	}
	for _, m := range cl.Masters {
		c := m.Client()
		got := c.FunctionList(ctx, redis.FunctionListQuery{}).Val()
		c.Close()
		if len(got) != len(want) {
			t.Errorf("master %s has %d function libraries, the source %d", m.Addr, len(got), len(want))
		}
	}

	t.Run("keys in db 2", func(t *testing.T) {
		src2 := redistest.Start(t, redistest.Valkey91, redistest.Options{})
		c2 := src2.ClientDB(2)
		defer c2.Close()
		if err := c2.Set(ctx, "in-db-2", "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
		before := cc.DBSize(ctx).Val()
		opt := clusterOptions(t, src2.Addr, cl.Masters[0].Addr)
		opt.Merge = true
		_, err := Run(ctx, opt)
		if !errors.Is(err, errClusterDB) {
			t.Fatalf("want the db refusal, got %v", err)
		}
		t.Logf("refused: %v", err)
		if after := cc.DBSize(ctx).Val(); after != before {
			t.Errorf("the target went from %d to %d keys", before, after)
		}
	})

	t.Run("db 2 mapped to 0", func(t *testing.T) {
		src2 := redistest.Start(t, redistest.Valkey91, redistest.Options{})
		c0, c2 := src2.ClientDB(0), src2.ClientDB(2)
		defer c0.Close()
		defer c2.Close()
		for i := range 100 {
			if err := c2.Set(ctx, fmt.Sprintf("db2:%d", i), i, 0).Err(); err != nil {
				t.Fatal(err)
			}
			if err := c0.Set(ctx, fmt.Sprintf("db0:%d", i), i, 0).Err(); err != nil {
				t.Fatal(err)
			}
		}
		f, err := transform.NewFilter(transform.FilterOptions{DBs: []int{2}, DBMap: map[int]int{2: 0}})
		if err != nil {
			t.Fatal(err)
		}
		opt := clusterOptions(t, src2.Addr, cl.Masters[0].Addr)
		opt.Merge, opt.Filter, opt.StateKey = true, f, testStateKey+":mapped"
		st, err := Run(ctx, opt)
		if err != nil {
			t.Fatalf("db 2 mapped to db 0 of a cluster: %v", err)
		}
		t.Logf("stats %+v", st)
		for i := range 100 {
			if v := cc.Get(ctx, fmt.Sprintf("db2:%d", i)).Val(); v != strconv.Itoa(i) {
				t.Fatalf("db2:%d on the cluster is %q, want %d", i, v, i)
			}
			if cc.Exists(ctx, fmt.Sprintf("db0:%d", i)).Val() != 0 {
				t.Fatalf("db0:%d of a db left out (filter-dbs) reached the cluster", i)
			}
		}
	})
}

// TestScanClusterToClusterLive copies a cluster into a cluster with --live
// while a non-idempotent load writes to the source through a cluster
// client (counters, pushes and pops, deletes, expiring keys, renames in a
// hash tag), and checks that the target catches up with the source.
func TestScanClusterToClusterLive(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// CONFIG refused, as on managed services: the notifications are
	// checked by a probe on each master, with keys of its own slots.
	src := redistest.StartCluster(t, redistest.Valkey91, 3, redistest.Options{
		Argv: []string{"--rename-command", "CONFIG", ""}, Args: []string{"notify-keyspace-events", "KEA"}})
	dst := redistest.StartCluster(t, redistest.Redis70, 3, redistest.Options{})
	sc, dc := src.Client(), dst.Client()
	defer sc.Close()
	defer dc.Close()
	fillCluster(ctx, t, sc, 3000, 2)

	opt := clusterOptions(t, src.Masters[0].Addr, dst.Masters[1].Addr)
	opt.Live, opt.ScanCount, opt.Rate, opt.BigKeyBytes = true, 50, 1500, 2048 // a pass of about 2 s: the load runs during it
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	var (
		st     Stats
		runErr error
		wg     sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		st, runErr = Run(runCtx, opt)
	}()
	ops := clusterLoad(ctx, t, sc, 2500*time.Millisecond)
	t.Logf("load: %d operations", ops)
	assertSame(t, sc, dc, 20) // the target catches up while verify re-checks
	stopRun()
	wg.Wait()
	if runErr != nil {
		t.Fatal(runErr)
	}
	t.Logf("stats %+v", st)
	if st.Events == 0 || st.Phase != PhaseLive {
		t.Errorf("want events and the live phase; stats %+v", st)
	}
}

// clusterLoad writes to a cluster until d has passed and returns the number
// of operations.
func clusterLoad(ctx context.Context, t *testing.T, c *redis.ClusterClient, d time.Duration) int {
	t.Helper()
	r := rand.New(rand.NewSource(9))
	end := time.Now().Add(d)
	n := 0
	for ; time.Now().Before(end); n++ {
		i := r.Intn(3000)
		k := "k:" + strconv.Itoa(i)
		var err error
		switch n % 8 {
		case 0:
			err = c.Incr(ctx, "counter:"+strconv.Itoa(i%50)).Err()
		case 1:
			err = c.RPush(ctx, "list:"+strconv.Itoa(i%30), n).Err()
		case 2:
			err = c.LPop(ctx, "list:"+strconv.Itoa(i%30)).Err()
		case 3:
			if n%64 == 3 { // a few deletes: most keys stay for the pass to copy
				err = c.Del(ctx, k).Err()
			} else {
				err = c.Append(ctx, k+":s", "x").Err()
			}
		case 4:
			err = c.Set(ctx, "short:"+strconv.Itoa(n), n, 300*time.Millisecond).Err()
		case 5:
			err = c.HIncrBy(ctx, "hash:"+strconv.Itoa(i%20), "f"+strconv.Itoa(i%7), 1).Err()
		case 6:
			from := fmt.Sprintf("{r%d}:a", i%25)
			err = c.Set(ctx, from, n, 0).Err()
			if err == nil {
				err = c.Rename(ctx, from, fmt.Sprintf("{r%d}:b", i%25)).Err()
			}
		case 7:
			err = c.XAdd(ctx, &redis.XAddArgs{Stream: "stream:" + strconv.Itoa(i%10), Values: []any{"n", n}}).Err()
		}
		if err != nil && !errors.Is(err, redis.Nil) {
			t.Fatalf("load: %v", err)
		}
	}
	return n
}

// TestGrown decides which masters a topology change makes SCAN again: those
// that are new (a failover's replica), restarted, or serve slots they did
// not serve; not those that only lost slots.
func TestGrown(t *testing.T) {
	node := func(id, run, slots string) *srcNode {
		rs, err := server.ParseSlots(slots)
		if err != nil {
			t.Fatal(err)
		}
		return &srcNode{ClusterNode: server.ClusterNode{ID: id, Slots: rs}, runID: run}
	}
	before := []MasterState{{ID: "a", RunID: "1", Slots: "0-5460"}, {ID: "b", RunID: "2", Slots: "5461-10922"},
		{ID: "c", RunID: "3", Slots: "10923-16383"}}
	tests := []struct {
		name string
		now  []*srcNode
		want string
	}{
		{"unchanged", []*srcNode{node("a", "1", "0-5460"), node("b", "2", "5461-10922"), node("c", "3", "10923-16383")}, ""},
		{"slot moved c to a", []*srcNode{node("a", "1", "0-5460,12000"), node("b", "2", "5461-10922"),
			node("c", "3", "10923-11999,12001-16383")}, "a"},
		{"failover of b", []*srcNode{node("a", "1", "0-5460"), node("b2", "9", "5461-10922"), node("c", "3", "10923-16383")}, "b2"},
		{"c restarted", []*srcNode{node("a", "1", "0-5460"), node("b", "2", "5461-10922"), node("c", "7", "10923-16383")}, "c"},
		{"range split across masters", []*srcNode{node("a", "1", "0-100,101-5460"), node("b", "2", "5461-10922"),
			node("c", "3", "10923-16383")}, ""},
		{"master added", []*srcNode{node("a", "1", "0-5000"), node("b", "2", "5461-10922"), node("c", "3", "10923-16383"),
			node("d", "4", "5001-5460")}, "d"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := grown(before, tc.now)
			var ids []string
			for _, n := range tc.now {
				if got[n.ID] {
					ids = append(ids, n.ID)
				}
			}
			if fmt.Sprint(ids) != fmt.Sprint(splitNonEmpty(tc.want)) {
				t.Errorf("grown = %v, want %v", ids, tc.want)
			}
		})
	}
}

func splitNonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// migrateSlot moves slot from one master to another the classic way
// (SETSLOT IMPORTING/MIGRATING, MIGRATE of its keys, SETSLOT NODE on every
// master).
func migrateSlot(ctx context.Context, t *testing.T, cl *redistest.Cluster, from, to, slot int) {
	t.Helper()
	src, dst := cl.Masters[from].Client(), cl.Masters[to].Client()
	defer src.Close()
	defer dst.Close()
	srcID, dstID := src.ClusterMyID(ctx).Val(), dst.ClusterMyID(ctx).Val()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("migrating slot %d: %v", slot, err)
		}
	}
	must(dst.Do(ctx, "CLUSTER", "SETSLOT", slot, "IMPORTING", srcID).Err())
	must(src.Do(ctx, "CLUSTER", "SETSLOT", slot, "MIGRATING", dstID).Err())
	host, port := "127.0.0.1", cl.Masters[to].Port
	for {
		keys, err := src.ClusterGetKeysInSlot(ctx, slot, 100).Result()
		must(err)
		if len(keys) == 0 {
			break
		}
		args := []any{"MIGRATE", host, port, "", 0, 5000, "KEYS"}
		for _, k := range keys {
			args = append(args, k)
		}
		must(src.Do(ctx, args...).Err())
	}
	for _, m := range cl.Masters {
		c := m.Client()
		must(c.Do(ctx, "CLUSTER", "SETSLOT", slot, "NODE", dstID).Err())
		c.Close()
	}
}

// TestScanClusterSlotMigration moves a slot holding 300 keys from the last
// master to the first once the first one's SCAN is complete (and the last
// one's has not begun): the first master took over keys it did not hold
// when it was SCANned, so it is SCANned again, and the target equals the
// source. The source sends no notifications (CONFIG refused, none
// configured): only the topology check can find the moved keys.
func TestScanClusterSlotMigration(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl := redistest.StartCluster(t, redistest.Valkey91, 3, redistest.Options{Argv: []string{"--rename-command", "CONFIG", ""}})
	dst := redistest.Start(t, redistest.Valkey91, redistest.Options{})
	cc := cl.Client()
	defer cc.Close()
	fillCluster(ctx, t, cc, 1800, 3)
	tag := ""
	for i := 0; tag == ""; i++ {
		if s := server.KeySlot("mv" + strconv.Itoa(i)); s >= 16384*2/3+1 {
			tag = "mv" + strconv.Itoa(i)
		}
	}
	slot := server.KeySlot(tag)
	for i := range 300 {
		if err := cc.Set(ctx, "{"+tag+"}:"+strconv.Itoa(i), i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	first := cl.Masters[0].Client()
	firstKeys := first.DBSize(ctx).Val()
	first.Close()

	opt := clusterOptions(t, cl.Masters[1].Addr, dst.Addr)
	opt.ScanCount, opt.Rate = 50, 1000 // about 0.6 s per master
	migrated := make(chan struct{})
	var once sync.Once
	opt.Progress = func(st Stats) {
		if st.Scanned > firstKeys+50 { // into the second master
			once.Do(func() {
				go func() {
					defer close(migrated)
					migrateSlot(ctx, t, cl, 2, 0, slot)
				}()
			})
		}
	}
	st, err := Run(ctx, opt)
	if err != nil {
		t.Fatal(err)
	}
	<-migrated
	t.Logf("stats %+v", st)
	if st.Topology == 0 || st.Events != 0 {
		t.Errorf("want the slot migration noticed, without notifications; stats %+v", st)
	}
	dc := dst.Client()
	defer dc.Close()
	assertSame(t, cc, dc, 1)
}

// TestScanIntoClusterResumeAndMigration stops a scan into a cluster halfway
// and starts it again: the second run continues from the checkpoint kept
// in the target cluster. During it, a slot of the target holding 300 of the
// keys moves to another master: the writes that meet MOVED or ASK are not
// sent again but their keys copied again from the source, to the new
// master. The target equals the source.
func TestScanIntoClusterResumeAndMigration(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	src := redistest.Start(t, redistest.Valkey91, redistest.Options{})
	cl := redistest.StartCluster(t, redistest.Valkey91, 3, redistest.Options{})
	sc, cc := src.Client(), cl.Client()
	defer sc.Close()
	defer cc.Close()
	fillCluster(ctx, t, sc, 2000, 4)
	tag := ""
	for i := 0; tag == ""; i++ {
		if s := server.KeySlot("mv" + strconv.Itoa(i)); s < 16384/3 {
			tag = "mv" + strconv.Itoa(i)
		}
	}
	for i := range 300 {
		if err := sc.RPush(ctx, "{"+tag+"}:"+strconv.Itoa(i), i, i+1).Err(); err != nil {
			t.Fatal(err)
		}
	}
	const total = 2300

	opt := clusterOptions(t, src.Addr, cl.Masters[1].Addr)
	opt.ScanCount, opt.Rate = 50, 2000
	first, stop := context.WithCancel(ctx)
	opt.Progress = func(st Stats) {
		if st.Scanned > total/2 {
			stop()
		}
	}
	st, err := Run(first, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first run: %+v", st)

	migrated := make(chan struct{})
	var once sync.Once
	opt.Progress = func(st Stats) {
		if st.Scanned > 100 {
			once.Do(func() {
				go func() {
					defer close(migrated)
					migrateSlot(ctx, t, cl, 0, 2, server.KeySlot(tag))
				}()
			})
		}
	}
	st, err = Run(ctx, opt)
	if err != nil {
		t.Fatal(err)
	}
	<-migrated
	t.Logf("second run: %+v", st)
	if st.Scanned >= total {
		t.Errorf("the second run scanned %d keys of %d: it did not continue from the checkpoint", st.Scanned, total)
	}
	assertSame(t, sc, cc, 1)
}

// addReplica starts a node that joins cl as a replica of master i and
// waits until it is in sync.
func addReplica(ctx context.Context, t *testing.T, cl *redistest.Cluster, i int, opts redistest.Options) *redistest.Server {
	t.Helper()
	opts.Args = append(append([]string{}, opts.Args...), "cluster-enabled", "yes", "cluster-node-timeout", "2000")
	r := redistest.Start(t, redistest.Valkey91, opts)
	rc := r.Client()
	defer rc.Close()
	mc := cl.Masters[i].Client()
	defer mc.Close()
	id := mc.ClusterMyID(ctx).Val()
	if err := rc.ClusterMeet(ctx, "127.0.0.1", strconv.Itoa(cl.Masters[0].Port)).Err(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for rc.Do(ctx, "CLUSTER", "REPLICATE", id).Err() != nil {
		if time.Now().After(deadline) {
			t.Fatal("the new node never learnt of the master it should replicate")
		}
		time.Sleep(100 * time.Millisecond)
	}
	for {
		in, err := server.Fetch(ctx, rc)
		if err == nil && in.Fields["master_link_status"] == "up" {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replica never got in sync: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestScanClusterFailover fails the first master of the source over to its
// replica once its SCAN is complete, while scan --live copies the cluster
// under a write load: the new master (another node id, another address) is
// SCANned again and its notifications received, and the target catches up
// with the source.
// REDFERRY_SCAN_MATRIX=1 (make scan-matrix) runs it.
func TestScanClusterFailover(t *testing.T) {
	if os.Getenv("REDFERRY_SCAN_MATRIX") == "" {
		t.Skip("failover test: REDFERRY_SCAN_MATRIX=1 (make scan-matrix)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cl := redistest.StartCluster(t, redistest.Valkey91, 3, redistest.Options{})
	replica := addReplica(ctx, t, cl, 0, redistest.Options{})
	dst := redistest.Start(t, redistest.Redis80, redistest.Options{})
	cc, dc := cl.Client(), dst.Client()
	defer cc.Close()
	defer dc.Close()
	fillCluster(ctx, t, cc, 3000, 6)

	opt := clusterOptions(t, cl.Masters[1].Addr, dst.Addr)
	opt.Live, opt.ScanCount, opt.Rate = true, 50, 1000
	failedOver := make(chan error, 1)
	var once sync.Once
	opt.Progress = func(st Stats) {
		if st.Master != "" && st.Master != cl.Masters[0].Addr { // the first master is done
			once.Do(func() {
				go func() {
					rc := replica.Client()
					defer rc.Close()
					failedOver <- rc.Do(ctx, "CLUSTER", "FAILOVER").Err()
				}()
			})
		}
	}
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	var (
		st     Stats
		runErr error
		wg     sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		st, runErr = Run(runCtx, opt)
	}()
	ops := clusterLoad(ctx, t, cc, 4*time.Second)
	if err := <-failedOver; err != nil {
		t.Fatalf("CLUSTER FAILOVER: %v", err)
	}
	t.Logf("load: %d operations", ops)
	assertSame(t, cc, dc, 30)
	stopRun()
	wg.Wait()
	if runErr != nil {
		t.Fatal(runErr)
	}
	t.Logf("stats %+v", st)
	if st.Topology == 0 {
		t.Errorf("the failover went unnoticed; stats %+v", st)
	}
}
