package syncer

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/redferry/redferry/pkg/server"
	"github.com/redferry/redferry/sink"
)

// targetCluster is the target as a cluster; nil for a standalone target.
func (s *Syncer) targetCluster() *sink.Cluster {
	cl, _ := s.target.(*sink.Cluster)
	return cl
}

// forEachMaster runs f with a control client of each master of the target cluster.
func (s *Syncer) forEachMaster(cl *sink.Cluster, f func(addr string, c *redis.Client) error) error {
	return server.ForEachNode(cl.Masters(), s.opt.Target, f)
}

// clusterKeyCount is targetKeyCount summed over the masters.
func (s *Syncer) clusterKeyCount(ctx context.Context, cl *sink.Cluster) (int64, error) {
	var n int64
	err := s.forEachMaster(cl, func(addr string, c *redis.Client) error {
		info, err := server.Fetch(ctx, c)
		if err != nil {
			return fmt.Errorf("the target cluster's master %s: %w", addr, err)
		}
		dbs := s.opt.Filter.SourceDBs()
		if dbs == nil {
			n += info.Keys()
			return nil
		}
		for _, db := range dbs {
			to, _ := s.opt.Filter.TargetDB(db)
			n += info.Keyspace[to]
		}
		return nil
	})
	return n, err
}

// flushCluster is flushTarget on every master; the checkpoint marks go
// with the data (FLUSHALL), or are deleted with filter-dbs.
func (s *Syncer) flushCluster(ctx context.Context, cl *sink.Cluster) error {
	dbs := s.opt.Filter.SourceDBs()
	return s.forEachMaster(cl, func(addr string, c *redis.Client) error {
		if dbs == nil {
			if err := c.FlushAll(ctx).Err(); err != nil {
				return fmt.Errorf("FLUSHALL on the target cluster's master %s: %w", addr, err)
			}
			return nil
		}
		conn := c.Conn()
		defer conn.Close()
		for _, db := range dbs {
			to, _ := s.opt.Filter.TargetDB(db)
			if err := conn.Select(ctx, to).Err(); err != nil {
				return fmt.Errorf("SELECT %d on the target cluster's master %s: %w", to, addr, err)
			}
			if err := conn.FlushDB(ctx).Err(); err != nil {
				return fmt.Errorf("FLUSHDB of db %d on the target cluster's master %s: %w", to, addr, err)
			}
		}
		if s.opt.CheckpointKey == "" {
			return nil
		}
		return deleteClusterMarks(ctx, conn, addr, s.opt.CheckpointKey)
	})
}
