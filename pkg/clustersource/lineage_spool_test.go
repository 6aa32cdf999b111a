package clustersource

import (
	"testing"

	"go.uber.org/zap"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/server"
	"github.com/redferry/redferry/pkg/spool"
	"github.com/redferry/redferry/pkg/status"
	"github.com/redferry/redferry/pkg/syncer"
)

// TestLineageFromTheSpool: a shard of the record without a running link
// (redferry restarted after a failover it did not see) is continued by a
// master promoted from its old master's replica: the replid its spool
// records is its old master's master_replid, the promoted server's
// master_replid2. A running link's tracker has the last word on its shard;
// a replid two spools record names neither.
func TestLineageFromTheSpool(t *testing.T) {
	for _, v := range versionsWithoutShardIDs(redistest.Redis70) {
		t.Run(v, func(t *testing.T) { lineageFromTheSpool(t, v) })
	}
}

func lineageFromTheSpool(t *testing.T, v string) {
	primary, promoted, replid := promotedReplica(t, v)
	other := redistest.Start(t, v, redistest.Options{}).InfoField(t, "replication", "master_replid")
	slots := []server.SlotRange{{Start: 0, End: 99}}
	newMaster := Shard{MasterID: "p", MasterAddr: promoted.Addr, NodeIDs: []string{"p"}, Slots: slots}

	for _, tc := range []struct {
		name    string
		spools  map[string]string // shard name → the replid its spool records
		tracked map[string]string // shard name → the replid its running link's tracker says ("": not planned yet)
		want    string
	}{
		{"no link runs: the spool", map[string]string{"a": other, "b": replid}, nil, "b"},
		{"a link not planned yet: its spool", map[string]string{"b": replid}, map[string]string{"b": ""}, "b"},
		{"a running link follows another replid", map[string]string{"b": replid}, map[string]string{"b": other}, ""},
		{"a running link follows it, another's spool has it too", map[string]string{"a": replid}, map[string]string{"b": replid}, "b"},
		{"two spools record it", map[string]string{"a": replid, "b": replid}, nil, ""},
		{"no spool records it", map[string]string{"a": other}, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stateDir := t.TempDir()
			sv, err := New(Options{Sync: syncer.Options{CheckpointKey: "ct", StateDir: stateDir,
				Source: server.ClientOptions{Addr: primary.Addr}}})
			if err != nil {
				t.Fatal(err)
			}
			defer sv.Close()
			for _, name := range []string{"a", "b"} {
				sv.names.Known[name] = []string{"old-" + name}
			}
			for name, id := range tc.spools {
				sp, err := spool.Open(syncer.SpoolDir(shardDir(stateDir, name)), spool.Options{})
				if err != nil {
					t.Fatal(err)
				}
				if err := sp.SetStreamReplID(id); err != nil {
					t.Fatal(err)
				}
				sp.Close()
			}
			for name, id := range tc.tracked {
				tr := status.NewTracker("src", "dst")
				if id != "" {
					tr.SetReplID(id)
				}
				sv.links[name] = newLink(name, "127.0.0.1:1", tr, zap.NewNop())
			}
			got, wait := sv.lineageName(t.Context(), newMaster, map[string]bool{})
			if got != tc.want || wait {
				t.Errorf("lineageName = %q, wait %v; want %q", got, wait, tc.want)
			}
		})
	}
}
