package scan

import (
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/redferry/redferry/pkg/server"
)

// clients holds one client per db of a server (go-redis binds a client to
// its db).
type clients struct {
	opts server.ClientOptions
	mu   sync.Mutex
	byDB map[int]*redis.Client
}

func newClients(opts server.ClientOptions) *clients {
	opts.PoolSize = 2
	return &clients{opts: opts, byDB: map[int]*redis.Client{}}
}

func (c *clients) db(n int) *redis.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	cl, ok := c.byDB[n]
	if !ok {
		// server.NewClient sets the project's client options; the db is
		// not one of them, so they are copied with it.
		cl = server.NewClient(c.opts)
		o := cl.Options()
		o.DB = n
		cl.Close()
		cl = redis.NewClient(o)
		c.byDB[n] = cl
	}
	return cl
}

func (c *clients) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cl := range c.byDB {
		cl.Close()
	}
	c.byDB = map[int]*redis.Client{}
}

// refused reports whether err says the server does not offer a command
// (renamed or disabled by a managed service, or denied by the ACL), as
// opposed to a failure of the connection.
func refused(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	for _, p := range []string{"ERR unknown command", "NOPERM", "ERR unknown subcommand", "ERR Unknown subcommand"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// wrongType reports a WRONGTYPE error: the key changed type while it was read.
func wrongType(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "WRONGTYPE")
}

// keyspaceDBs returns the keys per db, from INFO.
func keyspaceDBs(ctx context.Context, c *redis.Client) (map[int]int64, error) {
	in, err := server.Fetch(ctx, c)
	if err != nil {
		return nil, err
	}
	if in.Keyspace == nil {
		return map[int]int64{}, nil
	}
	return in.Keyspace, nil
}

var errChanged = errors.New("the key changed while it was read")
