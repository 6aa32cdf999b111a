package clustersource

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// fromNodes builds the shards from CLUSTER NODES, for servers without
// CLUSTER SHARDS (Redis 6.x). CLUSTER SLOTS would do for masters that serve
// slots but leaves out a master without any: a master just added, whose
// stream carries the keys it imports before it owns their slot.
func fromNodes(ctx context.Context, c *redis.Client) ([]Shard, error) {
	text, err := c.ClusterNodes(ctx).Result()
	if err != nil {
		return nil, fmt.Errorf("CLUSTER NODES: %w", err)
	}
	return parseClusterNodes(text), nil
}

// clusterNodeLine is one line of CLUSTER NODES:
// <id> <ip:port@cport[,hostname]> <flags> <master id|-> <ping> <pong> <epoch> <link> <slot>...
type clusterNodeLine struct {
	id, addr, masterID string
	flags              map[string]bool
	slots              [][2]int
}

// parseClusterNodes groups the nodes of a CLUSTER NODES reply into shards:
// each master with its replicas. A master flagged fail keeps its shard
// without a master address (its link waits for the promotion), unless it
// has no slot left (a failed-over master nobody forgot yet: its replica,
// now master, has a shard of its own). Nodes in handshake are left out.
func parseClusterNodes(text string) []Shard {
	var lines []clusterNodeLine
	for _, raw := range strings.Split(text, "\n") {
		if n, ok := parseNodeLine(raw); ok && !n.flags["handshake"] {
			lines = append(lines, n)
		}
	}
	byMaster := map[string]*Shard{}
	var order []string
	for _, n := range lines {
		if !n.flags["master"] {
			continue
		}
		failed := n.flags["fail"]
		if failed && len(n.slots) == 0 {
			continue
		}
		s := &Shard{NodeIDs: []string{n.id}, Slots: n.slots}
		if n.addr != "" {
			s.Addrs = append(s.Addrs, n.addr)
		}
		if !failed && n.addr != "" {
			s.MasterID, s.MasterAddr = n.id, n.addr
		}
		byMaster[n.id] = s
		order = append(order, n.id)
	}
	for _, n := range lines {
		s, ok := byMaster[n.masterID]
		if n.flags["master"] || !ok {
			continue
		}
		s.NodeIDs = append(s.NodeIDs, n.id)
		if n.addr != "" {
			s.Addrs = append(s.Addrs, n.addr)
		}
	}
	out := make([]Shard, 0, len(order))
	for _, id := range order {
		s := byMaster[id]
		sort.Slice(s.Slots, func(i, j int) bool { return s.Slots[i][0] < s.Slots[j][0] })
		out = append(out, *s)
	}
	return out
}

func parseNodeLine(raw string) (clusterNodeLine, bool) {
	f := strings.Fields(raw)
	if len(f) < 8 {
		return clusterNodeLine{}, false
	}
	n := clusterNodeLine{id: f[0], masterID: f[3], flags: map[string]bool{}}
	for _, fl := range strings.Split(f[2], ",") {
		n.flags[fl] = true
	}
	// ip:port@cport, with ",hostname" on 7.0+; ":0@0" without an address.
	addr, _, _ := strings.Cut(f[1], ",")
	addr, _, _ = strings.Cut(addr, "@")
	if i := strings.LastIndexByte(addr, ':'); i > 0 {
		if port, err := strconv.Atoi(addr[i+1:]); err == nil && port > 0 {
			n.addr = net.JoinHostPort(addr[:i], addr[i+1:])
		}
	}
	for _, sl := range f[8:] {
		if strings.HasPrefix(sl, "[") { // a slot migrating or importing: not owned
			continue
		}
		a, b, isRange := strings.Cut(sl, "-")
		from, err := strconv.Atoi(a)
		to := from
		if err == nil && isRange {
			to, err = strconv.Atoi(b)
		}
		if err == nil && from >= 0 && from <= to && to < 16384 {
			n.slots = append(n.slots, [2]int{from, to})
		}
	}
	return n, true
}
