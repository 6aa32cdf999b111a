package redistest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Cluster is a running Redis Cluster from the real binaries. Masters[i] is
// always the current master of shard i and Replicas[i] its replicas (empty
// for StartCluster): Failover swaps them.
type Cluster struct {
	Masters  []*Server
	Replicas [][]*Server
}

// StartCluster starts n masters with cluster-enabled yes, splits the 16384
// slots between them (assignSlots), joins them with
// CLUSTER MEET and waits for cluster_state:ok.
func StartCluster(tb testing.TB, name string, n int, opts Options) *Cluster {
	tb.Helper()
	cl := &Cluster{}
	for i := 0; i < n; i++ {
		o := opts
		o.Args = append(append([]string{}, opts.Args...), "cluster-enabled", "yes", "cluster-node-timeout", "2000")
		cl.Masters = append(cl.Masters, Start(tb, name, o))
	}
	ctx := context.Background()
	for i, m := range cl.Masters {
		assignSlots(tb, m, i*16384/n, (i+1)*16384/n-1)
		c := m.Client()
		if i > 0 {
			if err := c.Do(ctx, "CLUSTER", "MEET", "127.0.0.1", cl.Masters[0].Port).Err(); err != nil {
				c.Close()
				tb.Fatalf("redistest: CLUSTER MEET: %v", err)
			}
		}
		c.Close()
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, m := range cl.Masters {
		c := m.Client()
		for {
			info, err := c.ClusterInfo(ctx).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") && strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(n)) {
				break
			}
			if time.Now().After(deadline) {
				c.Close()
				tb.Fatalf("redistest: cluster not ok after 20s: %v %s", err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
		c.Close()
	}
	return cl
}

// Addrs lists the masters' addresses.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Masters))
	for i, m := range c.Masters {
		out[i] = m.Addr
	}
	return out
}

// Client returns a cluster client (RESP2, no retries beyond redirects).
func (c *Cluster) Client() *redis.ClusterClient {
	return redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs(), Password: c.Masters[0].opts.Password,
		Protocol: 2, DisableIdentity: true, ReadTimeout: 30 * time.Second})
}

// String names the cluster for messages.
func (c *Cluster) String() string {
	return fmt.Sprintf("cluster of %d masters %v", len(c.Masters), c.Addrs())
}
