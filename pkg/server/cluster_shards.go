package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// ClusterShard is one shard of a cluster as a node announces it: a master
// with its slots, and its replicas. This file is the one reader of cluster
// topology (the cluster source, the cluster sink and scan all ask it).
type ClusterShard struct {
	// Master is the shard's master with the shard's slots (sorted, adjacent
	// ranges merged). Its ID and Addr are "" when no node of the shard is a
	// master (HasMaster). Of two masters, one that is up wins.
	Master ClusterNode
	// MasterFailed: the cluster marks Master as failing (CLUSTER SHARDS
	// health "fail", CLUSTER NODES flag fail).
	MasterFailed bool
	// Nodes are every node of the shard, the master included, in the order
	// the reply lists them.
	Nodes []ShardNode
}

// ShardNode is a node of a shard: its id and address (the TLS port when
// the client asking uses TLS).
type ShardNode struct{ ID, Addr string }

// HasMaster reports whether a node of the shard is a master.
func (s ClusterShard) HasMaster() bool { return s.Master.Addr != "" }

// ClusterShards returns the shards of the cluster c is a node of, ordered
// by their first slot (shards without slots last), then by master id and
// address. It asks CLUSTER SHARDS (Redis 7.0+, Valkey) and, where that is
// unknown (Redis 6.x) or refused (an ACL user granted +cluster|nodes only),
// CLUSTER NODES. A host announced empty or "?" is taken to be the host c
// asks, with the port announced.
func ClusterShards(ctx context.Context, c *redis.Client) ([]ClusterShard, error) {
	asked := c.Options().Addr
	var shards []ClusterShard
	reply, err := c.ClusterShards(ctx).Result()
	switch {
	case err == nil:
		shards = shardsOfShards(reply, asked, c.Options().TLSConfig != nil)
	case isUnknownCommand(err) || isNoPerm(err):
		// Before 7.0, or an ACL user granted +cluster|nodes only.
		text, err := c.ClusterNodes(ctx).Result()
		if isNoPerm(err) {
			return nil, fmt.Errorf("CLUSTER NODES on %s: %w (grant the user +cluster|shards, or +cluster|nodes)", asked, err)
		}
		if err != nil {
			return nil, fmt.Errorf("CLUSTER NODES on %s: %w", asked, err)
		}
		shards = shardsOfNodes(text, asked)
	default:
		return nil, fmt.Errorf("CLUSTER SHARDS on %s: %w", asked, err)
	}
	if len(shards) == 0 {
		return nil, fmt.Errorf("%s names no node of its cluster: is the cluster set up (CLUSTER INFO cluster_state:ok)?", asked)
	}
	sortShards(shards)
	return shards, nil
}

// ClusterShardsFromAny asks the nodes of seeds in turn (with o's
// credentials and TLS; o.Addr is ignored) and returns the shards of the
// first answer that accept takes (nil: any answer); the error joins every
// node's.
func ClusterShardsFromAny(ctx context.Context, seeds []string, o ClientOptions, accept func([]ClusterShard) error) ([]ClusterShard, error) {
	var errs []error
	for _, addr := range seeds {
		o.Addr, o.PoolSize = addr, 1
		c := NewClient(o)
		shards, err := ClusterShards(ctx, c)
		c.Close()
		if err == nil && accept != nil {
			err = accept(shards)
		}
		if err == nil {
			return shards, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", addr, err))
		if ctx.Err() != nil {
			break
		}
	}
	if len(errs) == 0 {
		return nil, errors.New("no node address to ask")
	}
	return nil, errors.Join(errs...)
}

// ClusterMasters returns the masters of ClusterShards, with their ids,
// addresses and slots, in its order.
func ClusterMasters(ctx context.Context, c *redis.Client) ([]ClusterNode, error) {
	shards, err := ClusterShards(ctx, c)
	if err != nil {
		return nil, err
	}
	var out []ClusterNode
	for _, sh := range shards {
		if sh.HasMaster() {
			out = append(out, sh.Master)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s names no master of its cluster: is the cluster set up (CLUSTER INFO cluster_state:ok)?", c.Options().Addr)
	}
	return out, nil
}

// shardsOfShards reads a CLUSTER SHARDS reply; shards listing no node are
// left out.
func shardsOfShards(reply []redis.ClusterShard, asked string, tlsPort bool) []ClusterShard {
	var out []ClusterShard
	for _, sh := range reply {
		var s ClusterShard
		var master *redis.Node
		for i := range sh.Nodes {
			n := &sh.Nodes[i]
			host := n.Endpoint
			if host == "" || host == "?" {
				host = n.IP
			}
			port := n.Port
			if tlsPort && n.TLSPort != 0 {
				port = n.TLSPort
			}
			addr := nodeAddr(host, strconv.FormatInt(port, 10), asked)
			s.Nodes = append(s.Nodes, ShardNode{ID: n.ID, Addr: addr})
			// A failed master keeps role master until a replica takes over:
			// one that is up wins.
			if n.Role == "master" && (master == nil || master.Health == "fail" && n.Health != "fail") {
				master = n
				s.Master.ID, s.Master.Addr, s.MasterFailed = n.ID, addr, n.Health == "fail"
			}
		}
		if len(s.Nodes) == 0 {
			continue
		}
		for _, r := range sh.Slots {
			s.Master.Slots = append(s.Master.Slots, SlotRange{int(r.Start), int(r.End)})
		}
		s.Master.Slots = normalSlots(s.Master.Slots)
		out = append(out, s)
	}
	return out
}

// nodeAddr joins a node's announced host and port. A host announced empty
// (unknown) or "?" (no hostname set) is the host of the node asked, as the
// cluster specification tells clients to do.
func nodeAddr(host, port, asked string) string {
	if host == "" || host == "?" {
		host = asked
		if h, _, err := net.SplitHostPort(asked); err == nil {
			host = h
		}
	}
	return net.JoinHostPort(host, port)
}

// normalSlots sorts ranges, drops those outside 0-16383 and merges those
// that touch or overlap, so that FormatSlots gives one text per set of slots.
func normalSlots(ranges []SlotRange) []SlotRange {
	sort.Slice(ranges, func(i, j int) bool { return ranges[i].Start < ranges[j].Start })
	var out []SlotRange
	for _, r := range ranges {
		if r.Start < 0 || r.End >= SlotCount || r.Start > r.End {
			continue
		}
		if n := len(out); n > 0 && r.Start <= out[n-1].End+1 {
			out[n-1].End = max(out[n-1].End, r.End)
			continue
		}
		out = append(out, r)
	}
	return out
}

// sortShards orders shards by their first slot (those without slots
// last), then by master id and address; shards without a master keep the
// order of the reply among themselves.
func sortShards(shards []ClusterShard) {
	sort.SliceStable(shards, func(i, j int) bool {
		a, b := shards[i].Master, shards[j].Master
		if fa, fb := firstSlot(a.Slots), firstSlot(b.Slots); fa != fb {
			return fa < fb
		}
		if a.ID != b.ID {
			return a.ID < b.ID
		}
		return a.Addr < b.Addr
	})
}

// firstSlot orders shards: those without slots sort last.
func firstSlot(ranges []SlotRange) int {
	if len(ranges) == 0 {
		return SlotCount
	}
	return ranges[0].Start
}

func isUnknownCommand(err error) bool {
	var re redis.Error
	if !errors.As(err, &re) {
		return false
	}
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "unknown subcommand") || strings.Contains(msg, "unknown command")
}

func isNoPerm(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && strings.HasPrefix(re.Error(), "NOPERM")
}
