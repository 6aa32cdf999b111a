package verify

import (
	"errors"

	"github.com/redis/go-redis/v9"
)

// ErrUnsupportedClient is returned for client kinds Compare cannot walk
// (ring, failover).
var ErrUnsupportedClient = errors.New("verify: only a *redis.Client (standalone) or *redis.ClusterClient is supported")

// dbClient makes a client like base for db.
func dbClient(base *redis.Options, db int) *redis.Client {
	o := *base
	o.DB = db
	return redis.NewClient(&o)
}
