package sink

import (
	"context"
	"fmt"
	"slices"

	"github.com/redferry/redferry/pkg/server"
)

// topology is which master serves each hash slot, as server.ClusterShards
// said. Masters without slots are left out: nothing is routed to them.
type topology struct {
	owner   [server.SlotCount]int16 // index in masters; -1: no master serves the slot
	masters []string                // addresses
	slots   [][]server.SlotRange    // of each master, sorted
	// nodes lists every node seen (masters and replicas): where to ask
	// again after a failover took the masters' addresses away.
	nodes []string
}

// fetchTopology asks the nodes in seeds, in turn, for the cluster's shards
// and returns the first complete answer (every slot served).
func fetchTopology(ctx context.Context, cfg *Config, seeds []string) (*topology, error) {
	var t *topology
	_, err := server.ClusterShardsFromAny(ctx, seeds, server.ClientOptions{Username: cfg.Username, Password: cfg.Password,
		TLS: cfg.TLS, DialTimeout: cfg.DialTimeout, IOTimeout: cfg.IOTimeout},
		func(shards []server.ClusterShard) (err error) {
			t, err = newTopology(shards)
			return err
		})
	if err != nil {
		return nil, fmt.Errorf("sink: no node of the target cluster told its slots: %w", err)
	}
	return t, nil
}

// newTopology builds the owner table of shards; every slot must be served.
func newTopology(shards []server.ClusterShard) (*topology, error) {
	t := &topology{}
	var masters []server.ClusterNode
	for _, sh := range shards {
		if !sh.HasMaster() || len(sh.Master.Slots) == 0 {
			continue
		}
		masters = append(masters, sh.Master)
		t.masters = append(t.masters, sh.Master.Addr)
		t.slots = append(t.slots, sh.Master.Slots)
		for _, n := range sh.Nodes {
			if !slices.Contains(t.nodes, n.Addr) {
				t.nodes = append(t.nodes, n.Addr)
			}
		}
	}
	for s, o := range server.SlotOwners(masters) {
		if o < 0 {
			return nil, fmt.Errorf("slot %d is served by no master (cluster_state not ok, or slots unassigned)", s)
		}
		t.owner[s] = int16(o)
	}
	return t, nil
}

// ownerOf returns the index of the master serving slot.
func (t *topology) ownerOf(slot int) int { return int(t.owner[slot]) }

// slotsOf lists master m's slots as ranges "0-5460,10923".
func (t *topology) slotsOf(m int) string { return server.FormatSlots(t.slots[m]) }

// firstSlot is master m's lowest slot; -1 when it has none.
func (t *topology) firstSlot(m int) int {
	if len(t.slots[m]) == 0 {
		return -1
	}
	return t.slots[m][0].Start
}
