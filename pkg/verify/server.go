package verify

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// ErrUnsupportedClient is returned for client kinds Compare cannot walk
// (ring, failover).
var ErrUnsupportedClient = errors.New("verify: only a *redis.Client (standalone) or *redis.ClusterClient is supported")

// serverInfo is what Compare needs to know about one side.
type serverInfo struct {
	valkey       bool
	major, minor int // Redis version, or Valkey version when valkey
	version      string
}

// parseServerInfo reads INFO server text.
func parseServerInfo(info string) (serverInfo, error) {
	fields := infoFields(info)
	var s serverInfo
	s.version = fields["redis_version"]
	if v, ok := fields["valkey_version"]; ok || fields["server_name"] == "valkey" {
		s.valkey = true
		if ok {
			s.version = v
		}
	}
	parts := strings.SplitN(s.version, ".", 3)
	if len(parts) < 2 {
		return s, fmt.Errorf("verify: cannot parse server version %q", s.version)
	}
	var err error
	if s.major, err = strconv.Atoi(parts[0]); err != nil {
		return s, fmt.Errorf("verify: server version %q: %w", s.version, err)
	}
	if s.minor, err = strconv.Atoi(parts[1]); err != nil {
		return s, fmt.Errorf("verify: server version %q: %w", s.version, err)
	}
	return s, nil
}

func (s serverInfo) atLeast(major, minor int) bool {
	return s.major > major || s.major == major && s.minor >= minor
}

// redisCompat reports whether the server speaks the commands of Redis
// major.minor. Every Valkey release is a Redis 7.2 superset.
func (s serverInfo) redisCompat(major, minor int) bool {
	if s.valkey {
		return major < 7 || major == 7 && minor <= 2
	}
	return s.atLeast(major, minor)
}

// hasMultiRead: SMISMEMBER, ZMSCORE, exclusive ranges (6.2+).
func (s serverInfo) hasMultiRead() bool { return s.redisCompat(6, 2) }

// hasStream7: XINFO entries-added, max-deleted-entry-id,
// recorded-first-entry-id and group entries-read (7.0+).
func (s serverInfo) hasStream7() bool { return s.redisCompat(7, 0) }

// entriesReadExact: the group entries-read counter survives the server's
// own replication. Redis 7.0 does not propagate it with XREADGROUP (its
// replicas end with a different or unknown value), so it is compared only
// for sources from 7.2 on (every Valkey).
func (s serverInfo) entriesReadExact() bool { return s.redisCompat(7, 2) }

// hasFunctions: FUNCTION LIST (7.0+).
func (s serverInfo) hasFunctions() bool { return s.redisCompat(7, 0) }

// hasFieldTTL: HPEXPIRETIME (Redis 7.4+, Valkey 9.0+).
func (s serverInfo) hasFieldTTL() bool {
	if s.valkey {
		return s.major >= 9
	}
	return s.atLeast(7, 4)
}

func infoFields(info string) map[string]string {
	m := make(map[string]string)
	for _, line := range strings.Split(info, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[k] = v
		}
	}
	return m
}

// dbClient makes a client like base for db.
func dbClient(base *redis.Options, db int) *redis.Client {
	o := *base
	o.DB = db
	return redis.NewClient(&o)
}

func getInfo(ctx context.Context, c conn) (serverInfo, map[int]int64, error) {
	txt, err := c.Info(ctx, "server").Result()
	if err != nil {
		return serverInfo{}, nil, fmt.Errorf("INFO server: %w", err)
	}
	si, err := parseServerInfo(txt)
	if err != nil {
		return si, nil, err
	}
	ks, err := c.Info(ctx, "keyspace").Result()
	if err != nil {
		return si, nil, fmt.Errorf("INFO keyspace: %w", err)
	}
	return si, keyspaceCounts(ks), nil
}
