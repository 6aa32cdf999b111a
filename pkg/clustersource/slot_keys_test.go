package clustersource

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/server"
	"github.com/redferry/redferry/pkg/syncer"
)

// TestUnlinkSlotKeys: the keys of a set of slots are listed once each
// (eachSlotKey) and deleted by a shard's new full sync (removeSlots) and by
// a trim of slots (deleteSlotKeys), from a standalone server and from every
// master of a cluster, in every db, by slot on a cluster node for a small
// set (GETKEYSINSLOT) and by SCAN otherwise; redferry's own keys stay, and
// the trim's keep filter keeps its keys, and every key of another slot
// stays.
func TestUnlinkSlotKeys(t *testing.T) {
	const base = "redferry-test"
	targets := []struct {
		name    string
		server  string
		masters int // 0: a standalone server
		dbs     []int
	}{
		{"standalone Redis 7.0", redistest.Redis70, 0, []int{0, 1}},
		{"standalone Valkey 9.1", redistest.Valkey91, 0, []int{0, 1}},
		{"cluster Redis 7.0", redistest.Redis70, 3, []int{0}},
		{"cluster Valkey 9.1", redistest.Valkey91, 3, []int{0, 1}},
	}
	var evenSlots []int // more than indexedSlotsMax: SCAN
	for s := 0; s < server.SlotCount; s += 2 {
		evenSlots = append(evenSlots, s)
	}
	fewSlots := []int{server.KeySlot("big"), server.KeySlot(base)}
	for i := 0; i < 30; i++ {
		fewSlots = append(fewSlots, server.KeySlot("k:"+strconv.Itoa(i)))
	}
	sets := []struct {
		name    string
		slots   []int
		indexed bool // listed by slot on a cluster node
		huge    bool // a slot of the set holds more than slotListMax keys (clusters only)
	}{
		{"a few slots, one holding more keys than a reply", fewSlots, true, false},
		{"half the slots", evenSlots, false, false},
		{"a few slots, one holding too many keys to list", append(fewSlots, server.KeySlot("huge")), true, true},
	}
	removers := []struct {
		name   string
		keeps  bool // the keys named keep:* stay
		remove func(t *testing.T, sv *Supervisor, slots *[server.SlotCount]bool) int64
	}{
		{"a shard's new full sync", false, func(t *testing.T, sv *Supervisor, slots *[server.SlotCount]bool) int64 {
			n, err := sv.target.removeSlots(context.Background(), slots, nil, base)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}},
		{"a trim", true, func(t *testing.T, sv *Supervisor, slots *[server.SlotCount]bool) int64 {
			var ranges [][2]int
			for slot, in := range slots {
				if in {
					ranges = append(ranges, [2]int{slot, slot})
				}
			}
			n, err := sv.deleteSlotKeys(context.Background(), ranges, func(slot, db int, key string) bool {
				if slot != server.KeySlot(key) || db < 0 || db > 1 {
					t.Errorf("keep asked about %q of slot %d in db %d", key, slot, db)
				}
				return strings.HasPrefix(key, "keep:")
			})
			if err != nil {
				t.Fatal(err)
			}
			return int64(n)
		}},
	}
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			nodes := startSlotKeysTarget(t, tg.server, tg.masters, tg.dbs)
			sopt := syncer.Options{Target: server.ClientOptions{Addr: nodes.servers[0].Addr}, TargetName: tg.name, CheckpointKey: base}
			sv := &Supervisor{opt: Options{Sync: sopt}, target: newTargetSide(sopt)}
			defer sv.target.close()
			for _, set := range sets {
				var slots [server.SlotCount]bool
				for _, s := range set.slots {
					slots[s] = true
				}
				if set.huge && tg.masters == 0 {
					continue // scanned, as any set
				}
				// The nodes scan the db but those that list a small set
				// by slot, all but the one holding the huge slot.
				path := listingPath{counted: set.indexed && tg.masters > 0, scanned: func(node int) bool {
					return !set.indexed || tg.masters == 0 || set.huge && nodes.owner[server.KeySlot("huge")] == node
				}}
				huge := 0
				if set.huge {
					huge = slotListMax + 1
				}
				for _, rm := range removers {
					if set.huge && !rm.keeps {
						continue // the listing is the same: one remover will do
					}
					t.Run(set.name+"/"+rm.name, func(t *testing.T) {
						want := nodes.fill(t, tg.dbs, &slots, base, rm.keeps, huge)
						nodes.assertListed(t, tg.dbs, &slots, want, path)
						nodes.resetStats(t)
						if removed := rm.remove(t, sv, &slots); removed != int64(len(want.gone)) {
							t.Errorf("%d keys removed, want %d", removed, len(want.gone))
						}
						nodes.assertPath(t, path)
						left := nodes.keys(t, tg.dbs)
						if !slices.Equal(left, want.left) {
							t.Errorf("%d keys left, want %d; extra %v, missing %v", len(left), len(want.left),
								firstFew(minus(left, want.left)), firstFew(minus(want.left, left)))
						}
						t.Logf("%d keys in %d dbs; %d removed, %d left (%d of them in the slots: redferry's or kept)",
							len(want.left)+len(want.gone), len(tg.dbs), len(want.gone), len(left), want.staying)
					})
				}
			}
		})
	}
}

// slotKeysTarget is the masters of the target, with the slots each serves
// (a standalone server serves all).
type slotKeysTarget struct {
	servers []*redistest.Server
	owner   []int // per slot, the index in servers
}

func startSlotKeysTarget(t *testing.T, name string, masters int, dbs []int) *slotKeysTarget {
	t.Helper()
	if masters == 0 {
		return &slotKeysTarget{servers: []*redistest.Server{redistest.Start(t, name, redistest.Options{})}, owner: make([]int, server.SlotCount)}
	}
	var opts redistest.Options
	if len(dbs) > 1 {
		opts.Args = []string{"cluster-databases", strconv.Itoa(len(dbs))}
	}
	cl := redistest.StartCluster(t, name, masters, opts)
	c := cl.Masters[0].Client()
	defer c.Close()
	nodes, err := server.ClusterMasters(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	tg := &slotKeysTarget{owner: server.SlotOwners(nodes)}
	for _, n := range nodes {
		i := slices.IndexFunc(cl.Masters, func(m *redistest.Server) bool { return m.Addr == n.Addr })
		if i < 0 {
			t.Fatalf("the cluster names a master %s that is not one of %v", n.Addr, cl.Addrs())
		}
		tg.servers = append(tg.servers, cl.Masters[i])
	}
	return tg
}

// slotKeysWant: the keys ("db/key", sorted) that go and those left after
// the slots' keys are removed; staying is how many of those left are in
// the slots.
type slotKeysWant struct {
	gone, left []string
	staying    int
}

// fill empties the target and writes, in each db: 4000 keys spread over
// the slots, 2500 in one slot, huge in another, and in the first slots of the set and
// base's own, redferry's keys and keys named keep:* (which stay when
// keeps).
func (tg *slotKeysTarget) fill(t *testing.T, dbs []int, slots *[server.SlotCount]bool, base string, keeps bool, huge int) slotKeysWant {
	t.Helper()
	ctx := context.Background()
	for _, s := range tg.servers {
		c := s.Client()
		if err := c.FlushAll(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	var keys []string
	for i := 0; i < 4000; i++ {
		keys = append(keys, "k:"+strconv.Itoa(i))
	}
	for i := 0; i < 2500; i++ {
		keys = append(keys, "{big}:"+strconv.Itoa(i))
	}
	for i := 0; i < huge; i++ {
		keys = append(keys, "{huge}:"+strconv.Itoa(i))
	}
	var own, kept []string
	marked := 0
	for slot, in := range slots {
		if !in || marked == 20 {
			continue
		}
		marked++
		tag := "{" + server.TagForSlot(slot) + "}"
		own = append(own, "redferry:checkpoint:other"+tag, base+":shard"+tag)
		kept = append(kept, "keep:"+tag, "keep:2"+tag)
	}
	own = append(own, base)
	isOwn, isKept := map[string]bool{}, map[string]bool{}
	for _, k := range own {
		isOwn[k] = true
	}
	for _, k := range kept {
		isKept[k] = true
	}
	var want slotKeysWant
	for _, db := range dbs {
		byServer := make([][]string, len(tg.servers))
		for _, k := range slices.Concat(keys, own, kept) {
			slot := server.KeySlot(k)
			byServer[tg.owner[slot]] = append(byServer[tg.owner[slot]], k)
			name := fmt.Sprintf("%d/%s", db, k)
			switch {
			case !slots[slot]:
				want.left = append(want.left, name)
			case isOwn[k] || keeps && isKept[k]:
				want.left = append(want.left, name)
				want.staying++
			default:
				want.gone = append(want.gone, name)
			}
		}
		for i, s := range tg.servers {
			c := s.ClientDB(db)
			_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
				for _, k := range byServer[i] {
					p.Set(ctx, k, db, 0)
				}
				return nil
			})
			c.Close()
			if err != nil {
				t.Fatalf("filling db %d of %s: %v", db, s.Addr, err)
			}
		}
	}
	if want.staying == 0 || len(want.gone) == 0 {
		t.Fatalf("the set holds %d keys to remove and %d to keep: the test would prove nothing", len(want.gone), want.staying)
	}
	slices.Sort(want.gone)
	slices.Sort(want.left)
	return want
}

// eachNode runs f on a connection to each master and its INFO.
func (tg *slotKeysTarget) eachNode(t *testing.T, f func(s *redistest.Server, conn *redis.Conn, info server.Info)) {
	t.Helper()
	ctx := context.Background()
	for _, s := range tg.servers {
		c := s.Client()
		info, err := server.Fetch(ctx, c)
		if err != nil {
			c.Close()
			t.Fatal(err)
		}
		conn := c.Conn()
		f(s, conn, info)
		conn.Close()
		c.Close()
	}
}

// assertListed checks that eachSlotKey hands every key of the slots once,
// and nothing else, by the path expected (counted by the servers).
func (tg *slotKeysTarget) assertListed(t *testing.T, dbs []int, slots *[server.SlotCount]bool, want slotKeysWant, path listingPath) {
	t.Helper()
	ctx := context.Background()
	tg.resetStats(t)
	seen := map[string]int{}
	tg.eachNode(t, func(s *redistest.Server, conn *redis.Conn, info server.Info) {
		for _, db := range dbs {
			err := eachSlotKey(ctx, conn, info, db, slots, func(keys []string) error {
				for _, k := range keys {
					seen[fmt.Sprintf("%d/%s", db, k)]++
				}
				return nil
			})
			if err != nil {
				t.Fatalf("listing the keys of the slots in db %d of %s: %v", db, s.Addr, err)
			}
		}
		if ci := conn.ClientInfo(ctx).Val(); ci == nil || ci.DB != 0 {
			t.Errorf("the connection to %s is not back in db 0: %+v", s.Addr, ci)
		}
	})
	var inSlots []string
	for _, k := range want.left {
		_, key, _ := strings.Cut(k, "/")
		if slots[server.KeySlot(key)] {
			inSlots = append(inSlots, k)
		}
	}
	inSlots = append(inSlots, want.gone...)
	slices.Sort(inSlots)
	var listed []string
	for k, n := range seen {
		listed = append(listed, k)
		if n != 1 {
			t.Errorf("%s listed %d times, want once", k, n)
		}
	}
	slices.Sort(listed)
	if !slices.Equal(listed, inSlots) {
		t.Errorf("%d keys listed, want the %d of the slots; extra %v, missing %v", len(listed), len(inSlots),
			firstFew(minus(listed, inSlots)), firstFew(minus(inSlots, listed)))
	}
	tg.assertPath(t, path)
}

// keys lists every key of every master ("db/key", sorted).
func (tg *slotKeysTarget) keys(t *testing.T, dbs []int) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	for _, s := range tg.servers {
		for _, db := range dbs {
			c := s.ClientDB(db)
			ks, err := c.Keys(ctx, "*").Result()
			c.Close()
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range ks {
				out = append(out, fmt.Sprintf("%d/%s", db, k))
			}
		}
	}
	slices.Sort(out)
	return out
}

func (tg *slotKeysTarget) resetStats(t *testing.T) {
	t.Helper()
	for _, s := range tg.servers {
		c := s.Client()
		err := c.ConfigResetStat(context.Background()).Err()
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
}

// listingPath is how the nodes are expected to list the keys: counted,
// every master counted the keys of the set's slots; scanned, the node
// scanned its dbs (the others asked GETKEYSINSLOT).
type listingPath struct {
	counted bool
	scanned func(node int) bool
}

// assertPath checks from the servers' command counts that the keys were
// listed by the path expected.
func (tg *slotKeysTarget) assertPath(t *testing.T, path listingPath) {
	t.Helper()
	for i, s := range tg.servers {
		scans, counts := commandCalls(t, s, "scan"), commandCalls(t, s, "cluster|countkeysinslot")
		getKeys := commandCalls(t, s, "cluster|getkeysinslot")
		if path.counted != (counts > 0) {
			t.Errorf("%s ran COUNTKEYSINSLOT %d times, want it run: %v", s.Addr, counts, path.counted)
		}
		if scanned := path.scanned(i); scanned != (scans > 0) || scanned && getKeys > 0 {
			t.Errorf("%s ran SCAN %d times and GETKEYSINSLOT %d times, want the dbs scanned: %v", s.Addr, scans, getKeys, scanned)
		}
	}
}

// commandCalls reads how many times s ran command (INFO commandstats).
func commandCalls(t *testing.T, s *redistest.Server, command string) int {
	t.Helper()
	c := s.Client()
	defer c.Close()
	text, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	stat := server.Fields(text)["cmdstat_"+command]
	calls, _, _ := strings.Cut(strings.TrimPrefix(stat, "calls="), ",")
	n, _ := strconv.Atoi(calls)
	return n
}

func minus(a, b []string) []string {
	var out []string
	for _, k := range a {
		if _, found := slices.BinarySearch(b, k); !found {
			out = append(out, k)
		}
	}
	return out
}

func firstFew(keys []string) []string { return keys[:min(len(keys), 5)] }

// TestSlotKeysClusterRefused: a target user refused CLUSTER COUNTKEYSINSLOT
// still has the keys of a few slots listed, by SCAN.
func TestSlotKeysClusterRefused(t *testing.T) {
	ctx := context.Background()
	nodes := startSlotKeysTarget(t, redistest.Redis70, 3, []int{0})
	slots := [server.SlotCount]bool{}
	for i := 0; i < 30; i++ {
		slots[server.KeySlot("k:"+strconv.Itoa(i))] = true
	}
	want := nodes.fill(t, []int{0}, &slots, "redferry-test", true, 0)
	var inSlots []string
	for _, k := range slices.Concat(want.gone, want.left) {
		if slots[server.KeySlot(strings.TrimPrefix(k, "0/"))] {
			inSlots = append(inSlots, strings.TrimPrefix(k, "0/"))
		}
	}
	slices.Sort(inSlots)
	var listed []string
	for _, s := range nodes.servers {
		admin := s.Client()
		err := admin.Do(ctx, "ACL", "SETUSER", "nocluster", "on", ">pw", "~*", "+@all", "-cluster").Err()
		admin.Close()
		if err != nil {
			t.Fatal(err)
		}
		c := server.NewClient(server.ClientOptions{Addr: s.Addr, Username: "nocluster", Password: "pw"})
		info, err := server.Fetch(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		conn := c.Conn()
		err = eachSlotKey(ctx, conn, info, 0, &slots, func(keys []string) error {
			listed = append(listed, keys...)
			return nil
		})
		conn.Close()
		c.Close()
		if err != nil {
			t.Fatalf("listing the keys of the slots on %s as a user refused CLUSTER: %v", s.Addr, err)
		}
	}
	slices.Sort(listed)
	if !slices.Equal(listed, inSlots) {
		t.Errorf("%d keys listed, want the %d of the slots; extra %v, missing %v", len(listed), len(inSlots),
			firstFew(minus(listed, inSlots)), firstFew(minus(inSlots, listed)))
	}
}
