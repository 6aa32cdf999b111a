package main

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redferry/redferry/internal/redistest"
)

// serverKind is a server launcher run standalone or as a one-node cluster.
type serverKind struct {
	name    string // launcher name, e.g. "redis-8.6"
	cluster bool
}

func (k serverKind) String() string {
	if k.cluster {
		return k.name + "/cluster"
	}
	return k.name
}

// loadCandidates are the servers that may load a file of each magic, in
// the order tried: the first that loads it is the file's reference. A
// cluster node comes last, for cluster-only state (Valkey 9's slot import
// opcode asserts in a standalone server).
var loadCandidates = map[string][]serverKind{
	"REDIS": {{name: redistest.Redis86}, {name: redistest.Redis806}, {name: redistest.Redis70}, {name: redistest.Valkey91},
		{name: redistest.Valkey81}, {name: redistest.Redis60}, {name: redistest.Redis86, cluster: true}},
	"VALKEY": {{name: redistest.Valkey91}, {name: redistest.Valkey91, cluster: true}},
}

// serverPool keeps one running server per kind and role (loader or
// target) for the whole test, so files are loaded with DEBUG RELOAD and
// restored after a FLUSHALL instead of a server start each.
type serverPool struct {
	t       *testing.T
	servers map[string]*redistest.Server
}

func newServerPool(t *testing.T) *serverPool {
	return &serverPool{t: t, servers: map[string]*redistest.Server{}}
}

func (p *serverPool) get(role string, k serverKind) *redistest.Server {
	id := role + " " + k.String()
	if s := p.servers[id]; s != nil {
		return s
	}
	var args []string
	if !strings.HasPrefix(k.name, "redis-6") {
		args = append(args, "enable-debug-command", "yes")
	}
	if k.cluster {
		args = append(args, "cluster-enabled", "yes")
	}
	s := redistest.Start(p.t, k.name, redistest.Options{Args: args})
	p.servers[id] = s
	return s
}

// replace drops a server that died (it exits on a file it cannot load).
func (p *serverPool) replace(role string, k serverKind) {
	id := role + " " + k.String()
	if s := p.servers[id]; s != nil {
		s.Stop()
		delete(p.servers, id)
	}
}

// empty removes every key and function library.
func empty(ctx context.Context, c *redis.Client) error {
	if err := c.FlushAll(ctx).Err(); err != nil {
		return err
	}
	if err := c.Do(ctx, "FUNCTION", "FLUSH").Err(); err != nil && !strings.Contains(err.Error(), "unknown command") {
		return err
	}
	return nil
}

// loadResult is what a server made of a file.
type loadResult struct {
	loaded       bool
	emptySkipped int    // "skipping empty key" lines in its log
	why          string // why it did not load
}

// load has the loader server of kind k load file as its own dump.rdb
// (DEBUG RELOAD NOSAVE reads it as at startup). A server that exits on
// the file is replaced for the next one.
func (p *serverPool) load(k serverKind, file string) loadResult {
	ctx := context.Background()
	s := p.get("loader", k)
	c := redis.NewClient(&redis.Options{Addr: s.Addr, Protocol: 2, MaxRetries: -1, DisableIdentity: true,
		ReadTimeout: 30 * time.Second})
	defer c.Close()
	if err := empty(ctx, c); err != nil {
		p.t.Fatalf("%s: emptying before a load: %v", k, err)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		p.t.Fatal(err)
	}
	dump := filepath.Join(s.Dir, "dump.rdb")
	logFile := filepath.Join(s.Dir, "server.log")
	if err := os.WriteFile(dump, data, 0o644); err != nil {
		p.t.Fatal(err)
	}
	// The server opens its log for each line: truncating it keeps this load's lines only.
	if err := os.Truncate(logFile, 0); err != nil {
		p.t.Fatal(err)
	}
	err = c.Do(ctx, "DEBUG", "RELOAD", "NOSAVE").Err()
	if err == nil {
		// Read every value back, and save and load it again: a server that
		// does not validate what it loads (Redis 6.0) may take a corrupt
		// encoding, then crash or not depending on its memory; that is no
		// load to compare with.
		err = c.Do(ctx, "DEBUG", "DIGEST").Err()
	}
	if err == nil {
		err = c.Do(ctx, "DEBUG", "RELOAD").Err()
	}
	logText, _ := os.ReadFile(logFile)
	if err != nil {
		_ = os.Remove(dump) // a restarted server must not load it again
		if !alive(s.Addr) {
			p.replace("loader", k)
		}
		return loadResult{why: lastWarning(string(logText), err)}
	}
	held, err := dropEmptyCollections(ctx, c)
	if err != nil {
		p.t.Fatalf("%s: looking for empty keys: %v", k, err)
	}
	return loadResult{loaded: true, emptySkipped: strings.Count(string(logText), "skipping empty key") + held}
}

// dropEmptyCollections deletes the lists, sets, sorted sets and hashes
// with no element a server loaded from a file and returns how many. No
// command makes such a key: Redis 6.2 and later skip them when they load a
// file (and log it), Redis 6.0 keeps them. They count as skipped, as
// redferry skips them.
func dropEmptyCollections(ctx context.Context, client *redis.Client) (int, error) {
	c := client.Conn() // one connection: SELECT holds for what follows
	defer c.Close()
	info, err := c.Info(ctx, "keyspace").Result()
	if err != nil {
		return 0, err
	}
	dropped := 0
	for _, line := range strings.Split(info, "\n") {
		db, _, ok := strings.Cut(strings.TrimSpace(line), ":keys=")
		n, err := strconv.Atoi(strings.TrimPrefix(db, "db"))
		if !ok || err != nil {
			continue
		}
		if err := c.Do(ctx, "SELECT", n).Err(); err != nil {
			return dropped, err
		}
		var cursor uint64
		for {
			keys, next, err := c.Scan(ctx, cursor, "", 1000).Result()
			if err != nil {
				return dropped, err
			}
			lens := make([]*redis.Cmd, len(keys))
			if _, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
				for i, k := range keys {
					// The length of a collection, -1 for other types.
					lens[i] = p.Eval(ctx, `local t = redis.call('TYPE', KEYS[1]).ok
						if t == 'list' then return redis.call('LLEN', KEYS[1]) end
						if t == 'set' then return redis.call('SCARD', KEYS[1]) end
						if t == 'zset' then return redis.call('ZCARD', KEYS[1]) end
						if t == 'hash' then return redis.call('HLEN', KEYS[1]) end
						return -1`, []string{k})
				}
				return nil
			}); err != nil {
				return dropped, err
			}
			for i, k := range keys {
				if l, _ := lens[i].Int64(); l == 0 {
					if err := c.Del(ctx, k).Err(); err != nil {
						return dropped, err
					}
					dropped++
				}
			}
			if cursor = next; cursor == 0 {
				break
			}
		}
	}
	return dropped, nil
}

// alive reports whether a server answers PING (one dial, no retries: a
// server that exited on a file is found at once).
func alive(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	reply := make([]byte, 7)
	n, _ := io.ReadFull(conn, reply)
	return string(reply[:n]) == "+PONG\r\n"
}

// lastWarning is the server's reason for refusing a file: its first
// warning line ("#") after the reload started, else the reply.
func lastWarning(logText string, reply error) string {
	for _, line := range strings.Split(logText, "\n") {
		if _, msg, ok := strings.Cut(line, " # "); ok && !strings.Contains(msg, "WARNING") {
			return msg
		}
	}
	if reply == nil {
		return ""
	}
	if errors.Is(reply, context.DeadlineExceeded) {
		return "no reply"
	}
	return reply.Error()
}
