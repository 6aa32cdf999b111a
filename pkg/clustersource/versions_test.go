package clustersource

import (
	"os"

	"github.com/redferry/redferry/internal/redistest"
)

// versions returns the servers a test runs on: def in `make test`, the
// cluster-capable set (6.0+) with REDFERRY_CLUSTER_MATRIX=1.
func versions(def ...string) []string {
	if v := os.Getenv("REDFERRY_CLUSTER_ONLY"); v != "" {
		return []string{v}
	}
	if os.Getenv("REDFERRY_CLUSTER_MATRIX") != "" {
		return []string{redistest.Redis60, redistest.Redis70, redistest.Redis80, redistest.Redis86, redistest.Valkey81, redistest.Valkey91}
	}
	return def
}

// versionsWithoutShardIDs is versions for what concerns servers whose
// topology has no shard ids (Redis before 7.2), which name shards by node
// ids (identity.go).
func versionsWithoutShardIDs(def ...string) []string {
	var out []string
	for _, v := range versions(def...) {
		if v == redistest.Redis60 || v == redistest.Redis70 {
			out = append(out, v)
		}
	}
	return out
}

// fast starts full syncs at once (no repl-diskless-sync-delay).
var fast = redistest.Options{Args: []string{"repl-diskless-sync-delay", "0"}}
