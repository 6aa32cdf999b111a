package scan

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/server"
)

// srcNode is a server the passes SCAN: the standalone source, or one
// master of a cluster source (a node's SCAN sees only its own keys, and its
// keyspace notifications only its own writes).
type srcNode struct {
	server.ClusterNode
	c      *clients
	runID  string
	stats  statsWatch
	sub    *subscriber // nil without notifications
	unsub  func()      // stops sub and waits for it
	orig   *string     // notify-keyspace-events before redferry changed it
	shared bool        // its clients are the seed's (s.src): closed with those
}

// discoverSource finds the servers to SCAN: the source itself, or, for a
// cluster node, the masters of its cluster (with their run ids).
func (s *scanner) discoverSource(ctx context.Context) error {
	if !s.srcInfo.ClusterEnabled {
		s.nodes = []*srcNode{{ClusterNode: server.ClusterNode{Addr: s.opt.Source.Addr}, c: s.src, runID: s.srcInfo.RunID, shared: true}}
		return nil
	}
	s.cluster = true
	masters, err := server.ClusterMasters(ctx, s.src.db(0))
	if err != nil {
		return fmt.Errorf("source %s: finding the masters of its cluster: %w", s.opt.SourceName, err)
	}
	nodes, err := s.openNodes(ctx, masters, nil)
	if err != nil {
		return err
	}
	s.setNodes(nodes)
	addrs := make([]string, len(nodes))
	for i, n := range nodes {
		addrs[i] = n.Addr + " (" + n.SlotsString() + ")"
	}
	s.log.Info("the source is a cluster: each master is SCANned", zap.Strings("masters", addrs))
	return nil
}

// openNodes makes the srcNodes of masters, reusing those of old with the
// same address, and reads each new one's run id.
func (s *scanner) openNodes(ctx context.Context, masters []server.ClusterNode, old []*srcNode) ([]*srcNode, error) {
	byAddr := map[string]*srcNode{}
	for _, n := range old {
		byAddr[n.Addr] = n
	}
	var out []*srcNode
	for _, m := range masters {
		if len(m.Slots) == 0 {
			continue // serves no slot: holds no key to copy
		}
		if n, ok := byAddr[m.Addr]; ok && n.ID == m.ID {
			n.ClusterNode = m
			out = append(out, n)
			continue
		}
		o := s.opt.Source
		o.Addr = m.Addr
		n := &srcNode{ClusterNode: m, c: newClients(o)}
		in, err := server.Fetch(ctx, n.c.db(0))
		if err != nil {
			n.c.close()
			for _, k := range out {
				if byAddr[k.Addr] != k {
					k.c.close()
				}
			}
			return nil, fmt.Errorf("source master %s: %w", m.Addr, err)
		}
		n.runID = in.RunID
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("source %s: no master of its cluster serves a slot: is the cluster set up (CLUSTER INFO cluster_state:ok)?", s.opt.SourceName)
	}
	return out, nil
}

// setNodes makes nodes the servers SCANned and routes keys by their slots.
func (s *scanner) setNodes(nodes []*srcNode) {
	s.nodes = nodes
	masters := make([]server.ClusterNode, len(nodes))
	for i, n := range nodes {
		masters[i] = n.ClusterNode
	}
	s.owners = server.SlotOwners(masters)
}

func (s *scanner) closeNodes() {
	for _, n := range s.nodes {
		if !n.shared {
			n.c.close()
		}
	}
}

// nodeOf returns the server holding key: for a cluster, the master of its
// slot as last seen (the first master when no one serves it: it answers
// with a redirection, and the topology is looked at again).
func (s *scanner) nodeOf(key string) *srcNode {
	if !s.cluster {
		return s.nodes[0]
	}
	if i := s.owners[server.KeySlot(key)]; i >= 0 {
		return s.nodes[i]
	}
	return s.nodes[0]
}

// byNode splits keys by the server holding them, in the order of s.nodes.
func (s *scanner) byNode(keys []string) ([]*srcNode, [][]string) {
	if !s.cluster {
		return s.nodes[:1], [][]string{keys}
	}
	idx := map[*srcNode]int{}
	var nodes []*srcNode
	var groups [][]string
	for _, k := range keys {
		n := s.nodeOf(k)
		i, ok := idx[n]
		if !ok {
			i = len(nodes)
			idx[n] = i
			nodes = append(nodes, n)
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], k)
	}
	return nodes, groups
}

// sourceKeys returns the source's keys per db (summed over the masters of
// a cluster).
func (s *scanner) sourceKeys(ctx context.Context) (map[int]int64, error) {
	sum := map[int]int64{}
	for _, n := range s.nodes {
		dbs, err := keyspaceDBs(ctx, n.c.db(0))
		if err != nil {
			return nil, fmt.Errorf("source %s: %w", n.Addr, err)
		}
		for db, k := range dbs {
			sum[db] += k
		}
	}
	return sum, nil
}

// pollStats polls INFO commandstats of every source server.
func (s *scanner) pollStats(ctx context.Context) (flushed, functions bool, err error) {
	for _, n := range s.nodes {
		f, fn, e := n.stats.poll(ctx, n.c.db(0))
		if e != nil {
			err = e
			continue
		}
		flushed, functions = flushed || f, functions || fn
	}
	return flushed, functions, err
}

// linkDown reports whether a notification link is lost.
func (s *scanner) linkDown() bool {
	for _, n := range s.nodes {
		if n.sub != nil && n.sub.down.Load() {
			return true
		}
	}
	return false
}

// redirected reports a cluster's redirection or refusal while slots move
// or a failover runs: the topology is to be looked at again.
func redirected(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	for _, p := range []string{"MOVED ", "ASK ", "TRYAGAIN", "CLUSTERDOWN"} {
		if strings.HasPrefix(msg, p) || strings.Contains(msg, ": "+p) {
			return true
		}
	}
	return false
}

// masterStates lists the nodes for a pass's checkpoint; only, when not
// nil, names the masters to SCAN (the others count as done).
func masterStates(nodes []*srcNode, only map[string]bool) []MasterState {
	out := make([]MasterState, len(nodes))
	for i, n := range nodes {
		out[i] = MasterState{ID: n.ID, Addr: n.Addr, RunID: n.runID, Slots: n.SlotsString(), Done: only != nil && !only[n.ID]}
	}
	return out
}

// passNode returns the master whose SCAN continues the copy phase (nil:
// every master is done): the one in progress, else the first not done,
// whose SCAN then starts (DB and Cursor move to it).
func (s *scanner) passNode() *srcNode {
	st := &s.w.state
	byID := map[string]*srcNode{}
	for _, n := range s.nodes {
		byID[n.ID] = n
	}
	for _, m := range st.Masters {
		if m.ID == st.Node && !m.Done && byID[m.ID] != nil {
			return byID[m.ID]
		}
	}
	for _, m := range st.Masters {
		if n := byID[m.ID]; n != nil && !m.Done {
			st.Node, st.DB, st.Cursor = n.ID, 0, 0
			return n
		}
	}
	return nil
}

// markDone records that the master id was SCANned to the end.
func (s *scanner) markDone(id string) {
	for i := range s.w.state.Masters {
		if s.w.state.Masters[i].ID == id {
			s.w.state.Masters[i].Done = true
		}
	}
}

// grown returns the ids of the masters of now that were not in before
// under the same id and run id with at least their slots: their keys
// include keys another master held when it was SCANned.
func grown(before []MasterState, now []*srcNode) map[string]bool {
	old := map[string]MasterState{}
	for _, m := range before {
		old[m.ID] = m
	}
	out := map[string]bool{}
	for _, n := range now {
		o, ok := old[n.ID]
		if !ok || o.RunID != n.runID {
			out[n.ID] = true
			continue
		}
		had, err := server.ParseSlots(o.Slots)
		if err != nil {
			out[n.ID] = true
			continue
		}
		for _, r := range n.Slots {
			if !covers(had, r) {
				out[n.ID] = true
				break
			}
		}
	}
	return out
}

// covers reports whether the ranges rs hold every slot of r.
func covers(rs []server.SlotRange, r server.SlotRange) bool {
	next := r.Start
	sorted := append([]server.SlotRange(nil), rs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Start < sorted[j].Start })
	for _, x := range sorted {
		if x.Start <= next && x.End >= next {
			next = x.End + 1
			if next > r.End {
				return true
			}
		}
	}
	return next > r.End
}

// anyNode lists the source servers to ask for the cluster's topology.
func (s *scanner) anyNode() []*redis.Client {
	out := make([]*redis.Client, 0, len(s.nodes)+1)
	for _, n := range s.nodes {
		out = append(out, n.c.db(0))
	}
	return append(out, s.src.db(0))
}

// ownTag returns a hash tag of one of n's slots ("" for a standalone
// server): keys written to n for a probe must be its own.
func ownTag(n *srcNode) string {
	if len(n.Slots) == 0 {
		return ""
	}
	for i := 0; i < 1<<20; i++ {
		tag := "p" + strconv.Itoa(i)
		if n.Owns(server.KeySlot(tag)) {
			return tag
		}
	}
	return "" // a master of one slot: found in about 16384 tries, far below the bound
}
