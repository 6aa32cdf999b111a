package redistest

import (
	"context"
	"fmt"
	"slices"
	"testing"
)

// Nodes joining and leaving a cluster, as an operator replacing machines
// does: a replica added to a shard, a replica (a failed-over master
// included) taken out.

// AddReplica starts one more node of the same server and options as
// Masters[master], joins it to the cluster as a replica of that master,
// appends it to Replicas[master], and waits until the cluster is healthy
// and the replica has caught up with its master.
func (c *Cluster) AddReplica(tb testing.TB, master int) *Server {
	tb.Helper()
	m := c.Masters[master]
	r := Start(tb, m.Name, clusterOptions(m.Name, Options{Password: m.opts.Password, Argv: m.opts.Argv,
		Args: withoutClusterArgs(m.opts.Args)}))
	for len(c.Replicas) < len(c.Masters) {
		c.Replicas = append(c.Replicas, nil)
	}
	c.Replicas[master] = append(c.Replicas[master], r)
	do(tb, r, "CLUSTER", "MEET", "127.0.0.1", c.Masters[0].Port)
	c.waitKnown(tb)
	id := NodeID(tb, m)
	// The new node may not have learnt the master's id from gossip yet.
	waitFor(tb, func() (bool, string) {
		rc := r.Client()
		defer rc.Close()
		err := rc.Do(context.Background(), "CLUSTER", "REPLICATE", id).Err()
		return err == nil, fmt.Sprint(err)
	}, "CLUSTER REPLICATE on "+r.Addr)
	c.WaitHealthy(tb)
	r.WaitCaughtUp(tb, m)
	return r
}

// RemoveReplica takes the replica r of shard master out of the cluster:
// it leaves Replicas[master], every other node forgets it (CLUSTER FORGET;
// the forgotten node's gossip is then ignored for a minute), and it stops.
// A master is removed so once a failover has made it a replica.
func (c *Cluster) RemoveReplica(tb testing.TB, master int, r *Server) {
	tb.Helper()
	i := slices.Index(c.Replicas[master], r)
	if i < 0 {
		tb.Fatalf("redistest: %s is no replica of shard %d of %s", r.Addr, master, c)
	}
	id := NodeID(tb, r)
	c.Replicas[master] = slices.Delete(slices.Clone(c.Replicas[master]), i, i+1)
	for _, n := range c.Nodes() {
		do(tb, n, "CLUSTER", "FORGET", id)
	}
	r.Stop()
	c.waitKnown(tb)
	c.WaitHealthy(tb)
}
