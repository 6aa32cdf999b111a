package verify

import (
	"context"
	"fmt"
	"sync"

	"github.com/redferry/redferry/pkg/server"
	"github.com/redis/go-redis/v9"
)

// side is one server to compare: a standalone server (one connection per
// db) or a cluster (db 0 only, SCAN on each master, keys routed by slot).
type side struct {
	name    string // "source" or "target", for messages
	single  *redis.Options
	cluster *redis.ClusterClient
	masters []*redis.Client // cluster: one client per master, for SCAN and RANDOMKEY
	info    server.Info
	keys    map[int]int64 // keys by db (INFO keyspace), summed over masters
}

func newSide(ctx context.Context, name string, c redis.UniversalClient) (*side, error) {
	s := &side{name: name, keys: map[int]int64{}}
	switch cl := c.(type) {
	case *redis.Client:
		s.single = cl.Options()
		if err := s.readInfo(ctx, cl); err != nil {
			return nil, fmt.Errorf("verify: %s: %w", name, err)
		}
	case *redis.ClusterClient:
		s.cluster = cl
		var mu sync.Mutex
		err := cl.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
			mu.Lock()
			defer mu.Unlock()
			s.masters = append(s.masters, m)
			return s.readInfo(ctx, m)
		})
		if err != nil {
			return nil, fmt.Errorf("verify: %s cluster: %w", name, err)
		}
	default:
		return nil, fmt.Errorf("%w (got %T)", ErrUnsupportedClient, c)
	}
	return s, nil
}

func (s *side) readInfo(ctx context.Context, c *redis.Client) error {
	si, err := server.Fetch(ctx, c)
	if err != nil {
		return err
	}
	s.info = si
	for db, n := range si.Keyspace {
		s.keys[db] += n
	}
	return nil
}

// dbs lists the dbs that hold keys.
func (s *side) dbs() []int {
	out := make([]int, 0, len(s.keys))
	for db := range s.keys {
		out = append(out, db)
	}
	return out
}

// forDB returns the client for per-key commands in db and the clients to
// SCAN it (each master of a cluster), and a func that closes what it opened.
func (s *side) forDB(db int) (conn, []*redis.Client, func()) {
	if s.cluster != nil {
		if db != 0 {
			return nil, nil, func() {}
		}
		return s.cluster, s.masters, func() {}
	}
	c := dbClient(s.single, db)
	return c, []*redis.Client{c}, func() { c.Close() }
}

// any returns a client that reaches one node, for server-wide commands
// (FUNCTION LIST: every master of a cluster holds the same libraries).
func (s *side) any() (conn, func()) {
	if s.cluster != nil {
		return s.masters[0], func() {}
	}
	c := dbClient(s.single, 0)
	return c, func() { c.Close() }
}

// conn is what the per-key checks need: *redis.Client for one db of a
// standalone server, *redis.ClusterClient for a cluster.
type conn interface {
	redis.Cmdable
	Do(ctx context.Context, args ...any) *redis.Cmd
}
