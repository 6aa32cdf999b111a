package syncer

import (
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/redferry/redferry/internal/redistest"
)

// startSourceAndCluster starts a Redis 7.0 source and a 3-master Redis 7.0
// cluster target, and opens a client of each, closed when the test ends.
func startSourceAndCluster(t *testing.T) (src *redistest.Server, cl *redistest.Cluster, sc *redis.Client, cc *redis.ClusterClient) {
	t.Helper()
	src = redistest.Start(t, redistest.Redis70, redistest.Options{Args: sourceArgs(false)})
	cl = redistest.StartCluster(t, redistest.Redis70, 3, redistest.Options{})
	sc, cc = src.Client(), cl.Client()
	t.Cleanup(func() { sc.Close(); cc.Close() })
	return src, cl, sc, cc
}
