package redistest

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Topology changes for cluster tests: replicas, failovers, classic slot
// migrations and new masters, on Redis 6.0+ and Valkey (cluster_legacy.go
// has what differs before 7.0).

// clusterTimeout bounds every wait for the cluster to agree on a change.
const clusterTimeout = 30 * time.Second

// failoverRetry: a manual failover not done by then (the servers give it up
// after 5 s) is asked for again.
const failoverRetry = 6 * time.Second

func clusterOptions(name string, opts Options) Options {
	o := opts
	o.Args = append(append([]string{}, opts.Args...), "cluster-enabled", "yes", "cluster-node-timeout", "2000")
	if !preSeven(name) {
		// A master that gives its last slot away stays a master (7.0+ would
		// make it a replica of the taker), so tests move slots back and
		// forth and remove masters as they choose.
		o.Args = append(o.Args, "cluster-allow-replica-migration", "no")
	}
	o.Dir, o.Port = "", 0
	return o
}

// StartClusterWithReplicas starts masters masters with replicasPerMaster
// replicas each, splits the 16384 slots evenly between the masters, joins
// every node and waits until every node reports cluster_state:ok, agrees on
// the slot owners and every replica's link is up.
func StartClusterWithReplicas(tb testing.TB, name string, masters, replicasPerMaster int, opts Options) *Cluster {
	tb.Helper()
	ctx := context.Background()
	cl := &Cluster{}
	o := clusterOptions(name, opts)
	for i := 0; i < masters; i++ {
		cl.Masters = append(cl.Masters, Start(tb, name, o))
		var reps []*Server
		for r := 0; r < replicasPerMaster; r++ {
			reps = append(reps, Start(tb, name, o))
		}
		cl.Replicas = append(cl.Replicas, reps)
	}
	for i, m := range cl.Masters {
		from, to := i*16384/masters, (i+1)*16384/masters-1
		assignSlots(tb, m, from, to)
	}
	for _, n := range cl.Nodes()[1:] {
		do(tb, n, "CLUSTER", "MEET", "127.0.0.1", cl.Masters[0].Port)
	}
	cl.waitKnown(tb)
	for i, reps := range cl.Replicas {
		id := NodeID(tb, cl.Masters[i])
		for _, r := range reps {
			// The replica may not have learnt the master's id from gossip yet.
			waitFor(tb, func() (bool, string) {
				rc := r.Client()
				defer rc.Close()
				err := rc.Do(ctx, "CLUSTER", "REPLICATE", id).Err()
				return err == nil, fmt.Sprint(err)
			}, "CLUSTER REPLICATE on "+r.Addr)
		}
	}
	cl.WaitHealthy(tb)
	return cl
}

// Nodes lists every node: masters, then replicas.
func (c *Cluster) Nodes() []*Server {
	out := append([]*Server{}, c.Masters...)
	for _, reps := range c.Replicas {
		out = append(out, reps...)
	}
	return out
}

// NodeID returns the cluster node id of s (CLUSTER MYID).
func NodeID(tb testing.TB, s *Server) string {
	tb.Helper()
	c := s.Client()
	defer c.Close()
	id, err := c.Do(context.Background(), "CLUSTER", "MYID").Text()
	if err != nil {
		tb.Fatalf("redistest: CLUSTER MYID on %s: %v", s.Addr, err)
	}
	return id
}

// SlotOf returns the hash slot of key (CLUSTER KEYSLOT).
func (c *Cluster) SlotOf(tb testing.TB, key string) int {
	tb.Helper()
	cl := c.Masters[0].Client()
	defer cl.Close()
	n, err := cl.ClusterKeySlot(context.Background(), key).Result()
	if err != nil {
		tb.Fatalf("redistest: CLUSTER KEYSLOT: %v", err)
	}
	return int(n)
}

// Owner returns the index in Masters of the master that serves slot, as
// Masters[0] sees it.
func (c *Cluster) Owner(tb testing.TB, slot int) int {
	tb.Helper()
	cl := c.Masters[0].Client()
	defer cl.Close()
	slots, err := cl.ClusterSlots(context.Background()).Result()
	if err != nil {
		tb.Fatalf("redistest: CLUSTER SLOTS: %v", err)
	}
	for _, s := range slots {
		if slot >= int(s.Start) && slot <= int(s.End) && len(s.Nodes) > 0 {
			for i, m := range c.Masters {
				if m.Addr == s.Nodes[0].Addr {
					return i
				}
			}
		}
	}
	tb.Fatalf("redistest: no master of %s serves slot %d", c, slot)
	return -1
}

// Failover promotes the first replica of shard master with CLUSTER FAILOVER
// (coordinated: no write is lost), waits until it is master, every node
// agrees and the old master replicates from it, then swaps them so that
// Masters[master] is the new master and Replicas[master][0] the old one.
func (c *Cluster) Failover(tb testing.TB, master int) {
	tb.Helper()
	if len(c.Replicas) <= master || len(c.Replicas[master]) == 0 {
		tb.Fatalf("redistest: shard %d of %s has no replica to fail over to", master, c)
	}
	old, promoted := c.Masters[master], c.Replicas[master][0]
	promoted.WaitCaughtUp(tb, old)
	do(tb, promoted, "CLUSTER", "FAILOVER")
	asked := time.Now()
	waitFor(tb, func() (bool, string) {
		role := promoted.InfoField(tb, "replication", "role")
		// A manual failover that gets no votes (masters of a cluster just
		// formed that do not know yet that the replica is one) is given
		// up after 5 s: ask again.
		if role != "master" && time.Since(asked) > failoverRetry {
			promoted.WaitCaughtUp(tb, old)
			do(tb, promoted, "CLUSTER", "FAILOVER")
			asked = time.Now()
		}
		return role == "master", "role " + role
	}, "failover of "+old.Addr+" to "+promoted.Addr)
	c.Masters[master], c.Replicas[master][0] = promoted, old
	c.WaitHealthy(tb)
}

// MigrateSlots moves slots from Masters[from] to Masters[to] the classic way
// redis-cli --cluster reshard does: SETSLOT IMPORTING on the target,
// MIGRATING on the source, MIGRATE of every key (in every db that holds
// keys, for Valkey 9's numbered cluster dbs), then SETSLOT NODE on the
// target, the source and every other master.
func (c *Cluster) MigrateSlots(tb testing.TB, from, to int, slots ...int) {
	tb.Helper()
	src, dst := c.Masters[from], c.Masters[to]
	srcID, dstID := NodeID(tb, src), NodeID(tb, dst)
	for _, slot := range slots {
		do(tb, dst, "CLUSTER", "SETSLOT", slot, "IMPORTING", srcID)
		do(tb, src, "CLUSTER", "SETSLOT", slot, "MIGRATING", dstID)
		for _, db := range keyspaceDBs(tb, src) {
			c.migrateSlotKeys(tb, src, dst, db, slot)
		}
		do(tb, dst, "CLUSTER", "SETSLOT", slot, "NODE", dstID)
		do(tb, src, "CLUSTER", "SETSLOT", slot, "NODE", dstID)
		for i, m := range c.Masters {
			if i != from && i != to {
				do(tb, m, "CLUSTER", "SETSLOT", slot, "NODE", dstID)
			}
		}
	}
	c.WaitHealthy(tb)
}

func (c *Cluster) migrateSlotKeys(tb testing.TB, src, dst *Server, db, slot int) {
	tb.Helper()
	ctx := context.Background()
	cl := src.ClientDB(db)
	defer cl.Close()
	for {
		keys, err := cl.ClusterGetKeysInSlot(ctx, slot, 100).Result()
		if err != nil {
			tb.Fatalf("redistest: CLUSTER GETKEYSINSLOT %d on %s db %d: %v", slot, src.Addr, db, err)
		}
		if len(keys) == 0 {
			return
		}
		args := []any{"MIGRATE", "127.0.0.1", dst.Port, "", db, 10000}
		if dst.opts.Password != "" {
			args = append(args, "AUTH", dst.opts.Password)
		}
		args = append(args, "KEYS")
		for _, k := range keys {
			args = append(args, k)
		}
		if err := cl.Do(ctx, args...).Err(); err != nil && err.Error() != "NOKEY" {
			tb.Fatalf("redistest: MIGRATE of slot %d from %s to %s: %v", slot, src.Addr, dst.Addr, err)
		}
	}
}

// keyspaceDBs lists the dbs that hold keys on s (0 always).
func keyspaceDBs(tb testing.TB, s *Server) []int {
	tb.Helper()
	c := s.Client()
	defer c.Close()
	text, err := c.Info(context.Background(), "keyspace").Result()
	if err != nil {
		tb.Fatalf("redistest: INFO keyspace on %s: %v", s.Addr, err)
	}
	dbs := []int{0}
	for _, line := range strings.Split(text, "\n") {
		name, _, ok := strings.Cut(strings.TrimSpace(line), ":")
		if n, err := strconv.Atoi(strings.TrimPrefix(name, "db")); ok && err == nil && n > 0 && strings.HasPrefix(name, "db") {
			dbs = append(dbs, n)
		}
	}
	return dbs
}

// AddMaster starts one more master of the same server and options as
// Masters[0], without slots and without replicas, joins it to the cluster
// and returns its index in Masters. Give it slots with MigrateSlots.
func (c *Cluster) AddMaster(tb testing.TB) int {
	tb.Helper()
	first := c.Masters[0]
	m := Start(tb, first.Name, clusterOptions(first.Name, Options{Password: first.opts.Password, Argv: first.opts.Argv,
		Args: withoutClusterArgs(first.opts.Args)}))
	for len(c.Replicas) < len(c.Masters) {
		c.Replicas = append(c.Replicas, nil)
	}
	c.Masters = append(c.Masters, m)
	c.Replicas = append(c.Replicas, nil)
	do(tb, m, "CLUSTER", "MEET", "127.0.0.1", first.Port)
	c.waitKnown(tb)
	c.WaitHealthy(tb)
	return len(c.Masters) - 1
}

// withoutClusterArgs drops the directives clusterOptions adds, so that they
// are not given twice.
func withoutClusterArgs(args []string) []string {
	var out []string
	for i := 0; i+1 < len(args); i += 2 {
		if args[i] == "cluster-enabled" || args[i] == "cluster-node-timeout" || args[i] == "cluster-allow-replica-migration" {
			continue
		}
		out = append(out, args[i], args[i+1])
	}
	return out
}

// waitKnown waits until every node knows every other node.
func (c *Cluster) waitKnown(tb testing.TB) {
	tb.Helper()
	want := "cluster_known_nodes:" + strconv.Itoa(len(c.Nodes()))
	for _, n := range c.Nodes() {
		waitFor(tb, func() (bool, string) {
			info, err := clusterInfo(n)
			return err == nil && strings.Contains(info, want), fmt.Sprint(err, info)
		}, "node "+n.Addr+" to know every node")
	}
}

// WaitHealthy waits until every node reports cluster_state:ok, every node's
// CLUSTER SLOTS names the same owners, those owners are Masters, and every
// replica's link to its master is up.
func (c *Cluster) WaitHealthy(tb testing.TB) {
	tb.Helper()
	masters := map[string]bool{}
	for _, m := range c.Masters {
		masters[m.Addr] = true
	}
	waitFor(tb, func() (bool, string) {
		var first string
		for _, n := range c.Nodes() {
			info, err := clusterInfo(n)
			if err != nil || !strings.Contains(info, "cluster_state:ok") {
				return false, fmt.Sprintf("%s: %v %s", n.Addr, err, info)
			}
			view, owners, err := slotView(n)
			if err != nil {
				return false, err.Error()
			}
			for _, o := range owners {
				if !masters[o] {
					return false, fmt.Sprintf("%s sees %s as a master: %s", n.Addr, o, view)
				}
			}
			if first == "" {
				first = view
			} else if view != first {
				return false, fmt.Sprintf("%s sees %s, %s sees %s", c.Masters[0].Addr, first, n.Addr, view)
			}
		}
		for i, reps := range c.Replicas {
			for _, r := range reps {
				st := r.InfoField(tb, "replication", "master_link_status")
				port := r.InfoField(tb, "replication", "master_port")
				if st != "up" || port != strconv.Itoa(c.Masters[i].Port) {
					return false, fmt.Sprintf("replica %s: link %s to port %s, want up to %d", r.Addr, st, port, c.Masters[i].Port)
				}
			}
		}
		return true, ""
	}, "cluster "+c.String()+" to be healthy")
}

func clusterInfo(s *Server) (string, error) {
	c := s.Client()
	defer c.Close()
	return c.ClusterInfo(context.Background()).Result()
}

// slotView renders a node's CLUSTER SLOTS as sorted "start-end@master"
// ranges, and lists the masters it names.
func slotView(s *Server) (string, []string, error) {
	c := s.Client()
	defer c.Close()
	slots, err := c.ClusterSlots(context.Background()).Result()
	if err != nil {
		return "", nil, fmt.Errorf("CLUSTER SLOTS on %s: %w", s.Addr, err)
	}
	var parts, owners []string
	for _, sl := range slots {
		if len(sl.Nodes) == 0 {
			continue
		}
		parts = append(parts, fmt.Sprintf("%05d-%05d@%s", sl.Start, sl.End, sl.Nodes[0].Addr))
		owners = append(owners, sl.Nodes[0].Addr)
	}
	sort.Strings(parts)
	return strings.Join(parts, ","), owners, nil
}

// do runs one command on s and fails the test on an error.
func do(tb testing.TB, s *Server, args ...any) {
	tb.Helper()
	c := s.Client()
	defer c.Close()
	if err := c.Do(context.Background(), args...).Err(); err != nil {
		tb.Fatalf("redistest: %v on %s: %v", args, s.Addr, err)
	}
}

// waitFor polls cond until it holds, failing the test after clusterTimeout
// with cond's last explanation.
func waitFor(tb testing.TB, cond func() (bool, string), what string) {
	tb.Helper()
	deadline := time.Now().Add(clusterTimeout)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("redistest: waiting for %s: still not after %s: %s", what, clusterTimeout, why)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// KillMaster kills shard master's master (SIGKILL), waits until the
// cluster promotes a replica of it by itself (cluster-node-timeout), and
// makes that replica Masters[master]; the dead node leaves the Cluster's
// lists. Writes the replica had not received are lost, as in production:
// stop writing and WaitCaughtUp first for a failover without loss.
func (c *Cluster) KillMaster(tb testing.TB, master int) {
	tb.Helper()
	if len(c.Replicas) <= master || len(c.Replicas[master]) == 0 {
		tb.Fatalf("redistest: shard %d of %s has no replica to take over", master, c)
	}
	dead := c.Masters[master]
	dead.Kill()
	var promoted *Server
	waitFor(tb, func() (bool, string) {
		for _, r := range c.Replicas[master] {
			if r.InfoField(tb, "replication", "role") == "master" {
				promoted = r
				return true, ""
			}
		}
		return false, "no replica promoted yet"
	}, "a replica of the killed master "+dead.Addr+" to be promoted")
	var rest []*Server
	for _, r := range c.Replicas[master] {
		if r != promoted {
			rest = append(rest, r)
		}
	}
	c.Masters[master], c.Replicas[master] = promoted, rest
	c.WaitHealthy(tb)
}

// RemoveMaster takes Masters[master], which must serve no slot any more
// (MigrateSlots them away first) and have no replica, out of the cluster:
// every other node forgets it (CLUSTER FORGET), then it stops.
func (c *Cluster) RemoveMaster(tb testing.TB, master int) {
	tb.Helper()
	m := c.Masters[master]
	if len(c.Replicas) > master && len(c.Replicas[master]) > 0 {
		tb.Fatalf("redistest: master %s still has replicas", m.Addr)
	}
	id := NodeID(tb, m)
	c.Masters = append(c.Masters[:master:master], c.Masters[master+1:]...)
	if len(c.Replicas) > master {
		c.Replicas = append(c.Replicas[:master:master], c.Replicas[master+1:]...)
	}
	for _, n := range c.Nodes() {
		do(tb, n, "CLUSTER", "FORGET", id)
	}
	m.Stop()
	c.waitKnown(tb)
	c.WaitHealthy(tb)
}
