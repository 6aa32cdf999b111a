// Package clustersource syncs a Redis Cluster or Valkey cluster source: one
// replication link (a syncer.Syncer with its own spool and checkpoint) per
// master, all in one process and applied in parallel, following failovers,
// slot migrations and masters added or removed without a restart.
package clustersource

import (
	"context"
	"fmt"
	"strings"

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
	// Slots are the slot ranges the master serves (sorted); none for a
	// master without slots.
	Slots []server.SlotRange
	// Migrating is true when the master imports or exports a slot right
	// now (set by markMigrating).
	Migrating bool
}

// Topology is the source cluster as one node describes it, in the order of
// server.ClusterShards (by first slot, shards without slots last, then by
// master id): the order --shards indexes.
type Topology struct {
	Shards []Shard
}

// Discover asks the first answering node of seeds for the cluster's shards
// (server.ClusterShards: CLUSTER SHARDS, else CLUSTER NODES). opt gives the
// credentials and TLS; its Addr is ignored.
func Discover(ctx context.Context, seeds []string, opt server.ClientOptions) (Topology, error) {
	shards, err := server.ClusterShardsFromAny(ctx, seeds, opt, nil)
	if err != nil {
		return Topology{}, fmt.Errorf("no node of the source cluster describes it: %w", err)
	}
	var topo Topology
	for _, sh := range shards {
		topo.Shards = append(topo.Shards, shardOf(sh))
	}
	return topo, nil
}

// shardOf keeps what the source needs of a shard. A shard whose master
// failed and whose replica is not promoted yet stays, without a master: its
// link waits rather than stops.
func shardOf(sh server.ClusterShard) Shard {
	s := Shard{Slots: sh.Master.Slots}
	if sh.HasMaster() && !sh.MasterFailed {
		s.MasterID, s.MasterAddr = sh.Master.ID, sh.Master.Addr
	}
	for _, n := range sh.Nodes {
		s.NodeIDs = append(s.NodeIDs, n.ID)
		s.Addrs = append(s.Addrs, n.Addr)
	}
	return s
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
