package server

import (
	"strconv"
	"strings"
)

// shardsOfNodes reads a CLUSTER NODES reply (servers without CLUSTER
// SHARDS: Redis 6.x) into shards, each master with its replicas. CLUSTER
// SLOTS would serve for masters with slots but leaves out a master without
// any: one just added, whose stream carries the keys it imports before it
// owns their slot. A master flagged fail keeps its shard (MasterFailed)
// unless it has no slot left (a failed-over master nobody forgot yet: its
// promoted replica has a shard of its own); nodes in handshake are left
// out. Only the slots a master owns count, not those it imports or
// exports ("[slot->-id]").
func shardsOfNodes(text, asked string) []ClusterShard {
	var lines []nodeLine
	for _, raw := range strings.Split(text, "\n") {
		if n, ok := parseNodeLine(raw, asked); ok && !n.flags["handshake"] {
			lines = append(lines, n)
		}
	}
	byMaster := map[string]*ClusterShard{}
	var order []string
	for _, n := range lines {
		if !n.flags["master"] || n.flags["fail"] && len(n.slots) == 0 {
			continue
		}
		s := &ClusterShard{Master: ClusterNode{ID: n.id, Addr: n.addr, Slots: normalSlots(n.slots)}, MasterFailed: n.flags["fail"]}
		if n.addr != "" {
			s.Nodes = append(s.Nodes, ShardNode{ID: n.id, Addr: n.addr})
		}
		byMaster[n.id] = s
		order = append(order, n.id)
	}
	for _, n := range lines {
		if s, ok := byMaster[n.masterID]; ok && !n.flags["master"] && n.addr != "" {
			s.Nodes = append(s.Nodes, ShardNode{ID: n.id, Addr: n.addr})
		}
	}
	out := make([]ClusterShard, 0, len(order))
	for _, id := range order {
		out = append(out, *byMaster[id])
	}
	return out
}

// nodeLine is one line of CLUSTER NODES:
// <id> <ip:port@cport[,hostname]> <flags> <master id|-> <ping> <pong> <epoch> <link> <slot>...
type nodeLine struct {
	id, addr, masterID string
	flags              map[string]bool
	slots              []SlotRange
}

func parseNodeLine(raw, asked string) (nodeLine, bool) {
	f := strings.Fields(raw)
	if len(f) < 8 {
		return nodeLine{}, false
	}
	n := nodeLine{id: f[0], masterID: f[3], flags: map[string]bool{}}
	for _, fl := range strings.Split(f[2], ",") {
		n.flags[fl] = true
	}
	// ip:port@cport, with ",hostname" on 7.0+; ":0@0" without an address.
	addr, _, _ := strings.Cut(f[1], ",")
	addr, _, _ = strings.Cut(addr, "@")
	if i := strings.LastIndexByte(addr, ':'); i >= 0 {
		if port, err := strconv.Atoi(addr[i+1:]); err == nil && port > 0 {
			n.addr = nodeAddr(strings.Trim(addr[:i], "[]"), addr[i+1:], asked)
		}
	}
	for _, sl := range f[8:] {
		if strings.HasPrefix(sl, "[") { // a slot importing or migrating: not owned
			continue
		}
		a, b, isRange := strings.Cut(sl, "-")
		from, err := strconv.Atoi(a)
		to := from
		if err == nil && isRange {
			to, err = strconv.Atoi(b)
		}
		if err == nil {
			n.slots = append(n.slots, SlotRange{from, to})
		}
	}
	return n, true
}
