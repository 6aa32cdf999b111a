package clustersource

import (
	"testing"

	"github.com/redferry/redferry/internal/redistest"
)

// TestClusterRedis6Source syncs a Redis 6.0 cluster, whose topology comes
// from CLUSTER SLOTS (no CLUSTER SHARDS), into a standalone server under
// a write load: one link per master, and the target equals the source.
func TestClusterRedis6Source(t *testing.T) {
	src := redistest.StartCluster(t, redistest.Redis60, 3, fast)
	dst := redistest.Start(t, redistest.Redis70, redistest.Options{})
	fillCluster(t, src, 600)
	r := startSV(t, clusterConfig(src, dst, t.TempDir()))
	ld := startLoad(t, src, 2)
	r.waitStreaming(t, 3)
	ld.end()
	r.waitCaughtUp(t, src)
	assertEqual(t, src, dst)
}
