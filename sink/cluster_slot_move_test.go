package sink

import (
	"context"
	"testing"
	"time"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/server"
)

// slotMove is a 3-master Redis 7.0 target cluster, the cluster sink open on
// it, and the slot of "{m}", which the test moves by hand (a classic
// migration) to the next master while the sink writes to it.
type slotMove struct {
	t        *testing.T
	ctx      context.Context
	cl       *redistest.Cluster
	sink     *Cluster
	slot     int
	from, to *redistest.Server
}

func startSlotMove(t *testing.T, checkpointKey string) *slotMove {
	t.Helper()
	cl := redistest.StartCluster(t, redistest.Redis70, 3, redistest.Options{})
	c := openCluster(t, cl, Config{CheckpointKey: checkpointKey})
	slot := server.KeySlot("{m}")
	owner := c.topo.ownerOf(slot)
	return &slotMove{t: t, ctx: ctx(t), cl: cl, sink: c, slot: slot,
		from: cl.Masters[owner], to: cl.Masters[(owner+1)%3]}
}

// do runs args on s and fails the test if it errs.
func (m *slotMove) do(s *redistest.Server, args ...any) {
	m.t.Helper()
	sc := s.Client()
	defer sc.Close()
	if err := sc.Do(m.ctx, args...).Err(); err != nil {
		m.t.Fatalf("%v on %s: %v", args, s.Addr, err)
	}
}

func (m *slotMove) id(s *redistest.Server) string { return redistest.NodeID(m.t, s) }

// begin marks the slot importing and migrating and moves key alone: the
// slot's other keys stay on the old master, answering ASK for key.
func (m *slotMove) begin(key string) {
	m.t.Helper()
	m.do(m.to, "CLUSTER", "SETSLOT", m.slot, "IMPORTING", m.id(m.from))
	m.do(m.from, "CLUSTER", "SETSLOT", m.slot, "MIGRATING", m.id(m.to))
	m.do(m.from, "MIGRATE", "127.0.0.1", m.to.Port, key, 0, 10000)
}

// end moves the slot's other keys, then gives the slot to the new master
// on every master.
func (m *slotMove) end() {
	m.t.Helper()
	fc := m.from.Client()
	keys, err := fc.ClusterGetKeysInSlot(m.ctx, m.slot, 1000).Result()
	fc.Close()
	if err != nil {
		m.t.Fatal(err)
	}
	for _, k := range keys {
		m.do(m.from, "MIGRATE", "127.0.0.1", m.to.Port, k, 0, 10000)
	}
	for _, s := range m.cl.Masters {
		m.do(s, "CLUSTER", "SETSLOT", m.slot, "NODE", m.id(m.to))
	}
}

// waitApplyAfterMove waits for the Apply that done reports, which the
// migration held up, and fails the test if it erred or is still held up
// 30 s after the migration ended.
func waitApplyAfterMove(t *testing.T, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Apply did not finish after the migration ended")
	}
}
