package clustersource

import (
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/server"
	"github.com/redferry/redferry/pkg/status"
	"github.com/redferry/redferry/pkg/syncer"
)

// TestLineageOfAPromotedServer: a server promoted from a replica of the
// master a link follows continues that link's shard (its master_replid2 is
// the link's replid); when that shard's master still serves its slots in
// the same topology, a promoted server without slots is left out for a
// while (a takeover not settled yet, or a detached replica), one with
// slots is a shard of its own; a server of another history is none of it.
func TestLineageOfAPromotedServer(t *testing.T) {
	for _, v := range versions(redistest.Redis70) {
		t.Run(v, func(t *testing.T) { lineageOfAPromotedServer(t, v) })
	}
}

func lineageOfAPromotedServer(t *testing.T, v string) {
	primary, promoted, replid := promotedReplica(t, v)
	stranger := redistest.Start(t, v, redistest.Options{})

	sv, err := New(Options{Sync: syncer.Options{CheckpointKey: "ct", StateDir: t.TempDir(),
		Source: server.ClientOptions{Addr: primary.Addr}}})
	if err != nil {
		t.Fatal(err)
	}
	defer sv.Close()
	tr := status.NewTracker("src", "dst")
	tr.SetReplID(replid)
	sv.links["a"] = newLink("a", primary.Addr, tr, zap.NewNop())
	slots := []server.SlotRange{{Start: 0, End: 99}}

	for _, tc := range []struct {
		name     string
		shard    Shard
		taken    bool // shard a's master serves its slots in the same topology
		want     string
		wantWait bool
	}{
		{"promoted, with the slots", Shard{MasterID: "p", MasterAddr: promoted.Addr, NodeIDs: []string{"p"}, Slots: slots}, false, "a", false},
		{"promoted, slots not moved yet, old master gone from the view", Shard{MasterID: "p", MasterAddr: promoted.Addr, NodeIDs: []string{"p"}}, false, "a", false},
		{"promoted, without slots, old master serving them", Shard{MasterID: "p", MasterAddr: promoted.Addr, NodeIDs: []string{"p"}}, true, "", true},
		{"promoted, slots of its own, old master serving its own", Shard{MasterID: "p", MasterAddr: promoted.Addr, NodeIDs: []string{"p"}, Slots: slots}, true, "", false},
		{"another history", Shard{MasterID: "s", MasterAddr: stranger.Addr, NodeIDs: []string{"s"}, Slots: slots}, false, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, wait := sv.lineageName(t.Context(), tc.shard, map[string]bool{"a": tc.taken})
			if got != tc.want || wait != tc.wantWait {
				t.Errorf("lineageName = %q, wait %v; want %q, wait %v", got, wait, tc.want, tc.wantWait)
			}
		})
	}
	// The wait ends: the master without slots is then a new shard.
	unsettled := Shard{MasterID: "p", MasterAddr: promoted.Addr, NodeIDs: []string{"p"}}
	taken := map[string]bool{"a": true}
	if _, wait := sv.lineageName(t.Context(), unsettled, taken); !wait {
		t.Fatal("not left out at first")
	}
	sv.mu.Lock()
	sv.lineageWaits["p"] = time.Now().Add(-lineageWait)
	sv.mu.Unlock()
	if got, wait := sv.lineageName(t.Context(), unsettled, taken); got != "" || wait {
		t.Errorf("after the wait: lineageName = %q, wait %v; want a new shard", got, wait)
	}
}

// promotedReplica starts a primary and a replica of it promoted to a
// master of its own, and returns them with the primary's replid, which the
// promoted server continues (its master_replid2).
func promotedReplica(t *testing.T, v string) (primary, promoted *redistest.Server, replid string) {
	t.Helper()
	primary = redistest.Start(t, v, fast)
	promoted = redistest.Start(t, v, redistest.Options{})
	promoted.ReplicateFrom(t, primary)
	promoted.Promote(t)
	replid = primary.InfoField(t, "replication", "master_replid")
	if got := promoted.InfoField(t, "replication", "master_replid2"); got != replid {
		t.Fatalf("the promoted server's master_replid2 is %s, want its old master's master_replid %s", got, replid)
	}
	return primary, promoted, replid
}
