package clustersource

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/syncer"
	"github.com/redferry/redferry/pkg/verify"
	"github.com/redferry/redferry/protocol"
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

// streamWrites reads every shard's spooled stream under stateDir (the
// segments left after the applied ones were trimmed) and lists, for each
// of keys, the last commands naming it with the shard and the offset after
// the command, and how many there were: which master's stream carried the
// writes of a differing key, and how far in.
func streamWrites(stateDir string, keys []string) string {
	want := map[string]bool{}
	for _, k := range keys {
		want[k] = true
	}
	type write struct {
		shard string
		end   int64
		cmd   string
	}
	last := map[string][]write{}
	count := map[string]int{}
	var notes []string
	shards, _ := filepath.Glob(filepath.Join(syncer.SpoolDir(shardDir(stateDir, "*")), "stream"))
	for _, dir := range shards {
		shard := filepath.Base(filepath.Dir(filepath.Dir(dir)))
		segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
		sort.Strings(segs) // zero-padded names: in offset order
		if len(segs) == 0 {
			continue
		}
		start, err := strconv.ParseInt(strings.TrimSuffix(filepath.Base(segs[0]), ".seg"), 10, 64)
		if err != nil {
			notes = append(notes, fmt.Sprintf("%s: segment %s: %v", shard, segs[0], err))
			continue
		}
		var readers []io.Reader
		for _, p := range segs {
			f, err := os.Open(p)
			if err != nil {
				continue
			}
			defer f.Close()
			readers = append(readers, f)
		}
		cr := protocol.NewCommandReader(bufio.NewReader(io.MultiReader(readers...)), protocol.Limits{})
		off := start
		for {
			cmd, err := cr.ReadCommand()
			if err != nil {
				notes = append(notes, fmt.Sprintf("shard %s spooled (%d, %d]", shard, start, off))
				break
			}
			off += int64(len(cmd.Raw))
			for _, a := range cmd.Args[1:] {
				if k := string(a); want[k] {
					count[k]++
					ws := append(last[k], write{shard, off, strings.Join(argStrings(cmd.Args, 4), " ")})
					last[k] = ws[max(0, len(ws)-3):]
					break
				}
			}
		}
	}
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%q: %d commands in the spools, the last:", k, count[k])
		for _, w := range last[k] {
			fmt.Fprintf(&b, " [shard %.8s offset %d: %s]", w.shard, w.end, w.cmd)
		}
		b.WriteString("; ")
	}
	fmt.Fprintf(&b, "%v", notes)
	return b.String()
}

func argStrings(args [][]byte, n int) []string {
	var out []string
	for _, a := range args[:min(n, len(args))] {
		out = append(out, strconv.Quote(string(a[:min(len(a), 40)])))
	}
	return out
}

// progress lists each link's master, applied offset and the master's
// current offset.
func (r *runningSV) progress(t *testing.T, src *redistest.Cluster) string {
	t.Helper()
	if r == nil || r.sv == nil {
		return ""
	}
	at := map[string]*redistest.Server{}
	for _, s := range src.Nodes() {
		at[s.Addr] = s
	}
	shards := r.sv.Tracker().Shards()
	var out []string
	for name, addr := range r.sv.Masters() {
		master := "gone"
		if s := at[addr]; s != nil {
			master = s.InfoField(t, "replication", "master_repl_offset")
		}
		applied := int64(-1)
		if tr := shards[name]; tr != nil {
			applied = tr.Applied()
		}
		out = append(out, fmt.Sprintf("shard %.8s (%s): applied %d, master at %s", name, addr, applied, master))
	}
	sort.Strings(out)
	return strings.Join(out, "; ")
}
