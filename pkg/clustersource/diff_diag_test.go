package clustersource

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/verify"
)

// Diagnostics of assertEqual when the target differs from the source: they
// tell a write still reaching the source after the test's load ended (which
// makes any comparison race, whatever redferry does) from the target alone
// changing or neither side changing (a write lost, doubled or misordered by
// the sync).

// keyStates reads a serialized form of keys on one side (DUMP: stable for
// an unchanged value on the same server), "" for a missing key.
func keyStates(ctx context.Context, c redis.Cmdable, keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		v, err := c.Dump(ctx, k).Result()
		switch {
		case err == redis.Nil:
			out[i] = ""
		case err != nil:
			out[i] = "error: " + err.Error()
		default:
			out[i] = v
		}
	}
	return out
}

// diffKeys are the keys of a report's first differences.
func diffKeys(rep verify.Report) []string {
	var keys []string
	for _, d := range rep.Diffs[:min(10, len(rep.Diffs))] {
		keys = append(keys, d.Key)
	}
	return keys
}

// changes says, key by key, which side changed between two readings.
func changes(keys, src0, dst0, src1, dst1 []string) string {
	var b strings.Builder
	for i, k := range keys {
		fmt.Fprintf(&b, "%q: source changed %v, target changed %v; ", k, src0[i] != src1[i], dst0[i] != dst1[i])
	}
	return b.String()
}

// replOffsets are the master_repl_offset of every node of the cluster, by
// address.
func replOffsets(t *testing.T, src *redistest.Cluster) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, s := range src.Nodes() {
		v, _ := strconv.ParseInt(s.InfoField(t, "replication", "master_repl_offset"), 10, 64)
		out[s.Addr] = v
	}
	return out
}

// writeCommands are the commands of the tests' loads (lower case, as
// CLIENT LIST shows them).
var writeCommands = map[string]bool{"incr": true, "lpush": true, "hincrby": true, "append": true, "del": true,
	"rpush": true, "set": true, "mset": true, "exec": true}

// sourceWriters lists the clients of the source's nodes whose last command
// was a write: once the test's load has ended, any of them is a writer the
// test does not know about (a load leaked by an earlier test whose cluster
// client found this cluster on a reused port, say).
func sourceWriters(t *testing.T, src *redistest.Cluster) []string {
	t.Helper()
	var out []string
	for _, s := range src.Nodes() {
		c := s.Client()
		list, err := c.ClientList(context.Background()).Result()
		c.Close()
		if err != nil {
			out = append(out, fmt.Sprintf("%s: CLIENT LIST: %v", s.Addr, err))
			continue
		}
		for _, line := range strings.Split(strings.TrimSpace(list), "\n") {
			f := clientFields(line)
			if writeCommands[f["cmd"]] && !strings.Contains(f["flags"], "M") && !strings.Contains(f["flags"], "S") {
				out = append(out, fmt.Sprintf("%s: client %s cmd=%s age=%ss idle=%ss", s.Addr, f["addr"], f["cmd"], f["age"], f["idle"]))
			}
		}
	}
	return out
}

func clientFields(line string) map[string]string {
	f := map[string]string{}
	for _, kv := range strings.Fields(line) {
		if k, v, ok := strings.Cut(kv, "="); ok {
			f[k] = v
		}
	}
	return f
}

// explainDiff watches the differing keys of rep and the source for wait
// and describes what changed meanwhile.
func explainDiff(t *testing.T, src *redistest.Cluster, cc, dc redis.Cmdable, rep verify.Report, wait time.Duration) string {
	t.Helper()
	ctx := context.Background()
	keys := diffKeys(rep)
	off0 := replOffsets(t, src)
	src0, dst0 := keyStates(ctx, cc, keys), keyStates(ctx, dc, keys)
	time.Sleep(wait)
	src1, dst1 := keyStates(ctx, cc, keys), keyStates(ctx, dc, keys)
	off1 := replOffsets(t, src)
	var grew []string
	for addr, v := range off1 {
		if v != off0[addr] {
			grew = append(grew, fmt.Sprintf("%s +%d bytes", addr, v-off0[addr]))
		}
	}
	return fmt.Sprintf("over %v after the comparison: %s; source streams grew: %v; writers on the source now: %v",
		wait, changes(keys, src0, dst0, src1, dst1), grew, sourceWriters(t, src))
}
