package scan

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/server"
	"github.com/redferry/redferry/sink"
)

// openTarget opens the writer's target: the server given, or the masters
// of its cluster.
func (s *scanner) openTarget(ctx context.Context, dstInfo server.Info) error {
	if !dstInfo.ClusterEnabled {
		tcfg := s.opt.Target
		tcfg.CheckpointKey = s.opt.StateKey
		if tcfg.Logger == nil {
			tcfg.Logger = s.opt.Logger
		}
		st, err := sink.NewStandalone(ctx, tcfg)
		if err != nil {
			return fmt.Errorf("target %s: %w", s.opt.TargetName, err)
		}
		s.st, s.dstNodes = st, []*clients{s.dst}
		return nil
	}
	ct, err := newClusterTarget(ctx, s.opt.TargetCtl, s.opt.StateKey, s.opt.Target, s.log)
	if err != nil {
		return fmt.Errorf("target %s: %w", s.opt.TargetName, err)
	}
	ct.lost = func(keys []string, functions bool) {
		now := time.Now()
		for _, k := range keys {
			s.dirty.mark(0, k, now)
		}
		s.functions = s.functions || functions
	}
	s.st, s.dstCluster = ct, true
	for _, m := range ct.Masters() {
		o := s.opt.TargetCtl
		o.Addr = m.Addr
		s.dstNodes = append(s.dstNodes, newClients(o))
	}
	addrs := make([]string, len(ct.Masters()))
	for i, m := range ct.Masters() {
		addrs[i] = m.Addr
	}
	s.log.Info("the target is a cluster: keys are written to the master of their slot, function libraries to every master",
		zap.Strings("masters", addrs))
	return nil
}

func (s *scanner) closeDstNodes() {
	if !s.dstCluster {
		return
	}
	for _, c := range s.dstNodes {
		c.close()
	}
}

// resumeMasters reconciles a resumed pass's masters with the cluster as it
// is now: a master that is new, restarted (another run id) or serves slots
// it did not serve is SCANned (again), from the start.
func (s *scanner) resumeMasters() {
	st := &s.w.state
	again := grown(st.Masters, s.nodes)
	s.rebase(again)
	if len(again) > 0 {
		s.log.Info("the source cluster changed since the checkpoint: masters SCANned again", zap.Strings("masters", s.addrsOf(again)))
	}
}

// rebase makes the pass's masters the current ones, keeping what is done
// except for the masters in again; the master whose SCAN was in progress
// starts over when it is in again or gone.
func (s *scanner) rebase(again map[string]bool) {
	st := &s.w.state
	done := map[string]bool{}
	for _, m := range st.Masters {
		done[m.ID] = m.Done
	}
	ms := masterStates(s.nodes, nil)
	current := false
	for i := range ms {
		ms[i].Done = done[ms[i].ID] && !again[ms[i].ID]
		current = current || ms[i].ID == st.Node && !again[ms[i].ID]
	}
	st.Masters = ms
	if !current {
		st.Node = "" // passNode starts the next master at cursor 0
	}
}

func (s *scanner) addrsOf(ids map[string]bool) []string {
	var out []string
	for _, n := range s.nodes {
		if ids[n.ID] {
			out = append(out, n.Addr)
		}
	}
	return out
}

// checkTopology asks the source cluster for its masters and follows a
// change (a failover, a slot migration, a master added or removed): the
// masters that are new or serve more slots than when they were SCANned hold
// keys another master held then, so their SCAN is done again (now if the
// copy phase runs, else by a pass of those masters only); notifications
// are turned on and received on new masters, and a removed master's are
// dropped.
func (s *scanner) checkTopology(ctx context.Context) error {
	var masters []server.ClusterNode
	var err error
	for _, c := range s.anyNode() {
		if masters, err = server.ClusterMasters(ctx, c); err == nil {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("source cluster %s: %w", s.opt.SourceName, err)
	}
	if sameMasters(masters, s.nodes) {
		return nil
	}
	nodes, err := s.openNodes(ctx, masters, s.nodes)
	if err != nil {
		return err
	}
	kept := map[*srcNode]bool{}
	for _, n := range nodes {
		kept[n] = true
	}
	for _, n := range s.nodes {
		if !kept[n] {
			s.stopNotify(n)
			n.c.close()
		}
	}
	st := &s.w.state
	before := st.Masters
	s.setNodes(nodes)
	s.stats.Topology++
	again := grown(before, nodes)
	var addrs []string
	for _, n := range nodes {
		addrs = append(addrs, n.Addr+" ("+n.SlotsString()+")")
	}
	s.log.Warn("the source cluster's masters changed: the masters that took over slots are SCANned again",
		zap.Strings("masters", addrs), zap.Strings("scanned_again", s.addrsOf(again)))
	if s.notify {
		for _, n := range nodes {
			if n.sub != nil {
				continue
			}
			if err := s.enableNotify(ctx, n); err != nil {
				if s.opt.Live {
					return err
				}
				s.log.Warn("a new master of the source sends no keyspace notification: its keys changed during the copy are caught up by the prune only", zap.Error(err))
				continue
			}
			if err := s.subscribe(s.subCtx, n); err != nil {
				return err
			}
		}
	}
	if s.active && st.Phase == PhaseCopy {
		s.rebase(again)
		return nil
	}
	st.Masters = masterStates(nodes, map[string]bool{}) // all done: the pass that ran is complete
	if len(again) > 0 {
		if s.redo == nil {
			s.redo = map[string]bool{}
		}
		for id := range again {
			s.redo[id] = true
		}
	}
	return nil
}

// sameMasters reports whether masters are the nodes (ids, addresses, slots).
func sameMasters(masters []server.ClusterNode, nodes []*srcNode) bool {
	var withSlots []server.ClusterNode
	for _, m := range masters {
		if len(m.Slots) > 0 {
			withSlots = append(withSlots, m)
		}
	}
	if len(withSlots) != len(nodes) {
		return false
	}
	for i, m := range withSlots {
		n := nodes[i]
		if m.ID != n.ID || m.Addr != n.Addr || m.SlotsString() != n.SlotsString() {
			return false
		}
	}
	return true
}
