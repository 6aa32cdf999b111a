package syncer

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/redferry/redferry/pkg/config"
)

// controlClient is a go-redis client for control-plane calls. Retries are off:
// nothing sent through it may be applied twice.
func controlClient(ep config.Endpoint, tc *tls.Config, cfg config.Config) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: ep.Addr, Username: ep.Username, Password: ep.Password, TLSConfig: tc,
		Protocol: 2, MaxRetries: -1, DisableIdentity: true, DialTimeout: cfg.DialTimeout,
		ReadTimeout: cfg.IOTimeout, WriteTimeout: cfg.IOTimeout, PoolSize: 2})
}

// infoFields parses an INFO reply into its name:value lines.
func infoFields(info string) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		if k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":"); ok {
			out[k] = v
		}
	}
	return out
}

// targetKeyCount counts the keys of every db of the target, ignoring the
// checkpoint key.
func (s *Syncer) targetKeyCount(ctx context.Context) (int64, error) {
	info, err := s.targetCtl.Info(ctx, "keyspace").Result()
	if err != nil {
		return 0, fmt.Errorf("INFO keyspace on the target: %w", err)
	}
	var total int64
	for name, v := range infoFields(info) {
		if !strings.HasPrefix(name, "db") {
			continue
		}
		// db0:keys=1,expires=0,avg_ttl=0
		for _, part := range strings.Split(v, ",") {
			if n, ok := strings.CutPrefix(part, "keys="); ok {
				k, _ := strconv.ParseInt(n, 10, 64)
				total += k
			}
		}
	}
	return total, nil
}

// flushTarget empties every db of the target.
func (s *Syncer) flushTarget(ctx context.Context) error {
	if err := s.targetCtl.FlushAll(ctx).Err(); err != nil {
		return fmt.Errorf("FLUSHALL on the target %s: %w", s.dst, err)
	}
	return nil
}

// sourceOffset is the source's master_repl_offset now.
func (s *Syncer) sourceOffset(ctx context.Context) (int64, error) {
	info, err := s.sourceCtl.Info(ctx, "replication").Result()
	if err != nil {
		return 0, fmt.Errorf("INFO replication on the source %s: %w", s.src, err)
	}
	v, ok := infoFields(info)["master_repl_offset"]
	if !ok {
		return 0, fmt.Errorf("INFO replication on the source %s has no master_repl_offset", s.src)
	}
	return strconv.ParseInt(v, 10, 64)
}

func removeFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing %s: %w", path, err)
	}
	return nil
}
