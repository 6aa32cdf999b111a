// Package clustersource syncs a Redis Cluster or Valkey cluster source: one
// replication link (a syncer.Syncer with its own spool and checkpoint) per
// master, all in one process and applied in parallel, following failovers,
// slot migrations and masters added or removed without a restart.
package clustersource

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/redferry/redferry/pkg/server"
)

// Shard is one master of the source with its replicas, as one discovery saw it.
type Shard struct {
	// ShardID is the cluster's own id of the shard (CLUSTER MYSHARDID, Redis
	// 7.2+ and Valkey 8+; it survives failovers); "" on older servers.
	ShardID string
	// MasterID and MasterAddr: the master that is up; "" while a failed
	// master's replica is not promoted yet.
	MasterID   string
	MasterAddr string
	// NodeIDs are the ids of the master and its replicas.
	NodeIDs []string
	// Addrs are the addresses of every node of the shard, for the next discovery.
	Addrs []string
	// Slots are the slot ranges the master serves (inclusive); none for a
	// master without slots.
	Slots [][2]int
	// Migrating is true when the master imports or exports a slot right
	// now (set by markMigrating).
	Migrating bool
}

// Topology is the source cluster as one node describes it, masters ordered
// by their first slot (masters without slots last, by node id): the order
// --shards indexes.
type Topology struct {
	Shards []Shard
}

// firstSlot orders masters; slotless ones sort last.
func (s Shard) firstSlot() int {
	if len(s.Slots) == 0 {
		return 1 << 20
	}
	return s.Slots[0][0]
}

// Discover asks the first answering node of seeds for the cluster's shards:
// CLUSTER SHARDS (7.0+), else CLUSTER NODES. opt gives the credentials and
// TLS; its Addr is ignored.
func Discover(ctx context.Context, seeds []string, opt server.ClientOptions) (Topology, error) {
	var errs []error
	for _, addr := range seeds {
		o := opt
		o.Addr, o.PoolSize = addr, 1
		c := server.NewClient(o)
		topo, err := discoverFrom(ctx, c, opt.TLS != nil)
		c.Close()
		if err == nil {
			return topo, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", addr, err))
		if ctx.Err() != nil {
			break
		}
	}
	return Topology{}, fmt.Errorf("no node of the source cluster describes it: %w", errors.Join(errs...))
}

func discoverFrom(ctx context.Context, c *redis.Client, useTLS bool) (Topology, error) {
	var topo Topology
	shards, err := c.ClusterShards(ctx).Result()
	if err != nil && !isUnknownCommand(err) {
		return topo, fmt.Errorf("CLUSTER SHARDS: %w", err)
	}
	if err == nil {
		for _, sh := range shards {
			s, ok := fromShard(sh, useTLS)
			if ok {
				topo.Shards = append(topo.Shards, s)
			}
		}
	} else if topo.Shards, err = fromNodes(ctx, c); err != nil {
		return topo, err
	}
	if len(topo.Shards) == 0 {
		return topo, errors.New("the cluster has no master")
	}
	sort.Slice(topo.Shards, func(i, j int) bool {
		a, b := topo.Shards[i], topo.Shards[j]
		if a.firstSlot() != b.firstSlot() {
			return a.firstSlot() < b.firstSlot()
		}
		return a.MasterID < b.MasterID
	})
	return topo, nil
}

func isUnknownCommand(err error) bool {
	s := strings.ToLower(err.Error())
	return strings.Contains(s, "unknown subcommand") || strings.Contains(s, "unknown command")
}

// fromShard reads one CLUSTER SHARDS entry; ok is false when it has no
// master that is up (a shard whose master failed and has no replica left).
func fromShard(sh redis.ClusterShard, useTLS bool) (Shard, bool) {
	var s Shard
	for _, r := range sh.Slots {
		s.Slots = append(s.Slots, [2]int{int(r.Start), int(r.End)})
	}
	sort.Slice(s.Slots, func(i, j int) bool { return s.Slots[i][0] < s.Slots[j][0] })
	for _, n := range sh.Nodes {
		host := n.Endpoint
		if host == "" || host == "?" {
			host = n.IP
		}
		port := n.Port
		if useTLS && n.TLSPort > 0 {
			port = n.TLSPort
		}
		addr := net.JoinHostPort(host, strconv.FormatInt(port, 10))
		s.NodeIDs = append(s.NodeIDs, n.ID)
		if host != "" && port > 0 {
			s.Addrs = append(s.Addrs, addr)
		}
		if n.Role == "master" && n.Health != "fail" {
			s.MasterID, s.MasterAddr = n.ID, addr
		}
	}
	// A shard whose master failed and whose replica is not promoted yet
	// stays, without a master: its link waits rather than stops.
	return s, len(s.NodeIDs) > 0
}

// markMigrating asks every master whether it imports or exports a slot
// right now: CLUSTER NODES shows "[slot->-id]" or "[slot-<-id]" on the
// line of the node asked only.
func markMigrating(ctx context.Context, topo *Topology, opt server.ClientOptions) error {
	for i := range topo.Shards {
		if topo.Shards[i].MasterAddr == "" {
			continue
		}
		o := opt
		o.Addr, o.PoolSize = topo.Shards[i].MasterAddr, 1
		c := server.NewClient(o)
		text, err := c.ClusterNodes(ctx).Result()
		c.Close()
		if err != nil {
			return fmt.Errorf("CLUSTER NODES on %s: %w", o.Addr, err)
		}
		for _, line := range strings.Split(text, "\n") {
			f := strings.Fields(line)
			if len(f) >= 8 && strings.Contains(f[2], "myself") {
				for _, slot := range f[8:] {
					if strings.HasPrefix(slot, "[") {
						topo.Shards[i].Migrating = true
					}
				}
			}
		}
	}
	return nil
}

// Migrating reports whether any master imports or exports a slot (after
// markMigrating).
func (t Topology) Migrating() bool {
	for _, s := range t.Shards {
		if s.Migrating {
			return true
		}
	}
	return false
}

// Seeds lists every node address the topology names.
func (t Topology) Seeds() []string {
	var out []string
	for _, s := range t.Shards {
		out = append(out, s.Addrs...)
	}
	return out
}

// fetchShardIDs asks each master for its shard id (CLUSTER MYSHARDID); on
// servers without it the ids stay empty.
func fetchShardIDs(ctx context.Context, topo *Topology, opt server.ClientOptions) {
	for i := range topo.Shards {
		if topo.Shards[i].MasterAddr == "" {
			continue
		}
		o := opt
		o.Addr, o.PoolSize = topo.Shards[i].MasterAddr, 1
		c := server.NewClient(o)
		id, err := c.Do(ctx, "CLUSTER", "MYSHARDID").Text()
		c.Close()
		if err == nil {
			topo.Shards[i].ShardID = id
		}
	}
}
