package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redferry/redferry/pkg/sentinel"
)

// ClientOptions say how to reach a server for control-plane calls.
type ClientOptions struct {
	Addr, Username, Password string // the password is never logged
	TLS                      *tls.Config
	DialTimeout, IOTimeout   time.Duration
	PoolSize                 int // 0: go-redis' default
	// Sentinel, when set, is a sentinel-managed server: Addr is ignored and
	// each new connection goes to the master the sentinels name then
	// (sentinel.go), so a client outlives a failover.
	Sentinel *sentinel.Config
}

// NewClient is the one go-redis client constructor for control-plane calls
// (INFO, FLUSHALL, CLIENT PAUSE, verify's reads). Retries are off: nothing
// sent through it may be applied twice (a resent CLIENT PAUSE extends the
// pause, a resent write applies twice).
func NewClient(o ClientOptions) *redis.Client {
	opts := &redis.Options{Addr: o.Addr, Username: o.Username, Password: o.Password, TLSConfig: o.TLS,
		Protocol: 2, MaxRetries: -1, DisableIdentity: true, DialTimeout: o.DialTimeout,
		ReadTimeout: o.IOTimeout, WriteTimeout: o.IOTimeout, PoolSize: o.PoolSize}
	if o.Sentinel != nil {
		opts.Addr = o.Sentinel.String()
		opts.Dialer = sentinelDialer(o)
	}
	return redis.NewClient(opts)
}

// NewClusterClient is NewClient for a cluster reached through any node.
func NewClusterClient(o ClientOptions) *redis.ClusterClient {
	return redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{o.Addr}, Username: o.Username, Password: o.Password,
		TLSConfig: o.TLS, Protocol: 2, MaxRetries: -1, DisableIdentity: true, DialTimeout: o.DialTimeout,
		ReadTimeout: o.IOTimeout, WriteTimeout: o.IOTimeout, PoolSize: o.PoolSize})
}

// Fetch asks a server for INFO (its default sections: server, replication,
// keyspace, cluster and more) and parses it.
func Fetch(ctx context.Context, c redis.Cmdable) (Info, error) {
	text, err := c.Info(ctx).Result()
	if err != nil {
		return Info{}, fmt.Errorf("INFO: %w", err)
	}
	return Parse(text)
}

// ForEachNode runs f with a control client of each node of addrs (o's
// credentials and TLS; o.Addr is ignored), one after the other, until f
// fails.
func ForEachNode(addrs []string, o ClientOptions, f func(addr string, c *redis.Client) error) error {
	for _, addr := range addrs {
		o.Addr, o.PoolSize = addr, 1
		c := NewClient(o)
		err := f(addr, c)
		_ = c.Close()
		if err != nil {
			return err
		}
	}
	return nil
}
