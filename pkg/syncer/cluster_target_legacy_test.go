package syncer

import (
	"os"
	"testing"

	"github.com/redferry/redferry/internal/redistest"
)

// TestSyncIntoLegacyCluster: TestSyncIntoCluster into a Redis 6.0 cluster,
// with the commands 6.0 lacks (COPY, LMOVE, ZRANGESTORE, ZDIFFSTORE,
// GEOSEARCHSTORE) across slots in the load: the Translator's scripts for
// them cannot span slots, so the cluster sink carries them out slot by
// slot. `make test` runs 7.0 into 6.0; REDFERRY_CLUSTER_MATRIX=1 also
// Valkey 9.1 into 6.0 and 6.0 into 6.0 (without the moves, which a 6.0
// source does not have).
func TestSyncIntoLegacyCluster(t *testing.T) {
	type pair struct {
		source, target string
		moves          bool
	}
	pairs := []pair{{redistest.Redis70, redistest.Redis60, true}}
	if os.Getenv("REDFERRY_CLUSTER_MATRIX") != "" {
		pairs = append(pairs, pair{redistest.Valkey91, redistest.Redis60, true}, pair{redistest.Redis60, redistest.Redis60, false})
	}
	for _, p := range pairs {
		t.Run(p.source+"_to_cluster_of_"+p.target, func(t *testing.T) { syncIntoCluster(t, p.source, p.target, p.moves) })
	}
}
