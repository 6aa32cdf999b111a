package replay_test

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/replay"
	"github.com/redferry/redferry/transform"
)

// pendingStreamKeys are the streams fillPendingStreams writes.
var pendingStreamKeys = []string{"s:trim", "s:empty", "s:exact", "s:tail", "s:mid", "{t}s:big"}

// fillPendingStreams writes streams whose groups have pending entries
// whose message is gone: trimmed away and deleted with their whole node
// (the server runs with stream-node-max-entries 2), deleted but still
// stored, at the head, in the middle and at the end; over several groups
// and consumers with distinct delivery counts and times, a consumer
// without pending entries, and (7.0+) a group's entries-read.
func fillPendingStreams(t *testing.T, c *redis.Client, v7 bool) {
	t.Helper()
	ctx := context.Background()
	do := func(args ...any) {
		t.Helper()
		if err := c.Do(ctx, args...).Err(); err != nil && err != redis.Nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	add := func(key string, from, to int) {
		t.Helper()
		for i := from; i <= to; i++ {
			do("XADD", key, strconv.Itoa(i)+"-"+strconv.Itoa(i%3), "f", "v"+strconv.Itoa(i), "n", i)
		}
	}
	id := func(i int) string { return strconv.Itoa(i) + "-" + strconv.Itoa(i%3) }
	now := time.Now().UnixMilli()

	// s:trim: entries 1..40 in nodes of two.
	add("s:trim", 1, 40)
	do("XGROUP", "CREATE", "s:trim", "g1", "0")
	do("XGROUP", "CREATE", "s:trim", "g2", "0")
	do("XGROUP", "CREATE", "s:trim", "g3", "0")
	do("XREADGROUP", "GROUP", "g1", "a", "COUNT", 10, "STREAMS", "s:trim", ">")
	do("XREADGROUP", "GROUP", "g1", "b", "COUNT", 10, "STREAMS", "s:trim", ">")
	do("XREADGROUP", "GROUP", "g2", "c", "COUNT", 30, "STREAMS", "s:trim", ">")
	do("XREADGROUP", "GROUP", "g3", "d", "COUNT", 100, "STREAMS", "s:trim", ">")
	do("XREADGROUP", "GROUP", "g1", "idle", "STREAMS", "s:trim", "0")
	do("XCLAIM", "s:trim", "g1", "b", 0, id(3), id(5), "RETRYCOUNT", 7, "IDLE", 50000)
	do("XCLAIM", "s:trim", "g2", "c", 0, id(13), id(14), "TIME", now-123456, "RETRYCOUNT", 3)
	do("XCLAIM", "s:trim", "g3", "e", 0, id(2), id(16), id(40), "TIME", now-98765, "RETRYCOUNT", 11)
	do("XACK", "s:trim", "g1", id(4))
	do("XTRIM", "s:trim", "MAXLEN", 28)                  // nodes 1..12 go
	do("XDEL", "s:trim", id(15), id(16))                 // a whole node in the middle
	do("XDEL", "s:trim", id(21))                         // still stored (22 shares its node)
	do("XDEL", "s:trim", id(37), id(38), id(39), id(40)) // the last two nodes
	if v7 {
		do("XGROUP", "CREATE", "s:trim", "g4", id(25), "ENTRIESREAD", 13)
	}

	// s:empty: every entry trimmed away, all of them pending.
	add("s:empty", 1, 6)
	do("XGROUP", "CREATE", "s:empty", "g", "0")
	do("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s:empty", ">")
	do("XTRIM", "s:empty", "MAXLEN", 0)

	// s:exact: an exact trim leaves entry 3 stored as deleted at the head
	// (max-deleted-entry-id stays 0-0 on 7.0+).
	add("s:exact", 1, 5)
	do("XGROUP", "CREATE", "s:exact", "g", "0")
	do("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s:exact", ">")
	do("XTRIM", "s:exact", "MAXLEN", 2)

	// s:tail: the last node deleted while pending, nothing trimmed.
	add("s:tail", 1, 6)
	do("XGROUP", "CREATE", "s:tail", "g", "0")
	do("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s:tail", ">")
	do("XDEL", "s:tail", id(5), id(6))

	// s:mid: only a node in the middle deleted while pending (a 6.x RDB
	// does not tell the rebuild to expect it).
	add("s:mid", 1, 10)
	do("XGROUP", "CREATE", "s:mid", "g", "0")
	do("XREADGROUP", "GROUP", "g", "c", "COUNT", 7, "STREAMS", "s:mid", ">")
	do("XDEL", "s:mid", id(5), id(6))

	// {t}s:big: more than one step of the copy.
	for i := 1; i <= 3000; i += 500 {
		args := []any{"EVAL", "for i = tonumber(ARGV[1]), tonumber(ARGV[2]) do " +
			"redis.call('XADD', KEYS[1], i .. '-1', 'f', string.rep('x', i % 50)) end return 1", 1, "{t}s:big", i, i + 499}
		do(args...)
	}
	do("XGROUP", "CREATE", "{t}s:big", "g", "0")
	do("XREADGROUP", "GROUP", "g", "x", "COUNT", 1200, "STREAMS", "{t}s:big", ">")
	do("XREADGROUP", "GROUP", "g", "y", "COUNT", 600, "STREAMS", "{t}s:big", ">")
	do("XTRIM", "{t}s:big", "MAXLEN", 2000)
}

// streamFull is a stream's state as XINFO STREAM FULL shows it, less what
// commands cannot set (consumers' seen and active times).
type streamFull struct {
	Info      map[string]string
	Entries   []string
	Groups    map[string]map[string]string
	Pending   map[string][]string // group: id consumer delivery-time count
	Consumers map[string][]string // group: consumer pel-count
}

func readStreamFull(t *testing.T, c *redis.Client, key string) streamFull {
	t.Helper()
	v, err := c.Do(context.Background(), "XINFO", "STREAM", key, "FULL", "COUNT", 0).Slice()
	if err != nil {
		t.Fatalf("XINFO STREAM %s FULL: %v", key, err)
	}
	f := streamFull{Info: map[string]string{}, Groups: map[string]map[string]string{},
		Pending: map[string][]string{}, Consumers: map[string][]string{}}
	for i := 0; i+1 < len(v); i += 2 {
		name := v[i].(string)
		switch name {
		case "entries":
			for _, e := range v[i+1].([]any) {
				f.Entries = append(f.Entries, fmt.Sprint(e))
			}
		case "groups":
			for _, g := range v[i+1].([]any) {
				gv := g.([]any)
				gm := map[string]string{}
				var gname string
				for j := 0; j+1 < len(gv); j += 2 {
					k := gv[j].(string)
					switch k {
					case "name":
						gname = gv[j+1].(string)
					case "pending":
						for _, p := range gv[j+1].([]any) {
							f.Pending[gname] = append(f.Pending[gname], fmt.Sprint(p))
						}
					case "consumers":
						for _, cs := range gv[j+1].([]any) {
							cm := cs.([]any)
							var cname, count string
							for k := 0; k+1 < len(cm); k += 2 {
								switch cm[k].(string) {
								case "name":
									cname = cm[k+1].(string)
								case "pel-count":
									count = fmt.Sprint(cm[k+1])
								}
							}
							f.Consumers[gname] = append(f.Consumers[gname], cname+" "+count)
						}
					case "lag":
					default:
						gm[k] = fmt.Sprint(gv[j+1])
					}
				}
				f.Groups[gname] = gm
			}
		default:
			f.Info[name] = fmt.Sprint(v[i+1])
		}
	}
	return f
}

// comparableInfo drops the fields a target of another version or family
// reports differently for the same stream.
func comparableInfo(f streamFull, v2 bool) map[string]string {
	out := map[string]string{}
	for _, k := range []string{"length", "last-generated-id"} {
		out[k] = f.Info[k]
	}
	if v2 {
		for _, k := range []string{"entries-added", "max-deleted-entry-id", "recorded-first-entry-id"} {
			out[k] = f.Info[k]
		}
	}
	return out
}

type streamPair struct{ src, dst string }

func (p streamPair) String() string { return p.src + "->" + p.dst }

// streamPairs: the downgrades and Redis↔Valkey pairs that rebuild by
// commands, plus same-version pairs in replay-mode commands;
// REDFERRY_STREAMS=all runs every pair.
func streamPairs() []streamPair {
	if os.Getenv("REDFERRY_STREAMS") == "all" {
		var out []streamPair
		for _, s := range redistest.All {
			for _, d := range redistest.All {
				out = append(out, streamPair{s, d})
			}
		}
		return out
	}
	return []streamPair{
		{redistest.Redis86, redistest.Redis60},
		{redistest.Redis86, redistest.Redis80},
		{redistest.Redis80, redistest.Valkey91},
		{redistest.Valkey91, redistest.Redis70},
		{redistest.Redis70, redistest.Redis70},
		{redistest.Redis60, redistest.Redis86},
	}
}

// TestRebuildPendingWithoutMessage: streams whose pending entries name
// messages deleted or trimmed away are rebuilt by commands exactly: the
// same entries, pending entries (owner, delivery time to the millisecond,
// delivery count), consumers, groups' last ids and entries-read, and the
// stream's entries-added and max-deleted-entry-id; verify finds no
// difference and no scratch key is left.
func TestRebuildPendingWithoutMessage(t *testing.T) {
	for _, p := range streamPairs() {
		t.Run(p.String(), func(t *testing.T) {
			node := redistest.Options{Args: []string{"stream-node-max-entries", "2"}}
			src := redistest.Start(t, p.src, node)
			v7 := !strings.HasPrefix(p.src, "redis-6")
			fillPendingStreams(t, src.Client(), v7)
			data := dumpRDB(t, src)
			dst := redistest.Start(t, p.dst, redistest.Options{})
			stats := loadInto(t, data, dst, replaySnapshotCommands())
			if stats.Restored != 0 {
				t.Fatalf("stats %+v: want every key rebuilt by commands", stats)
			}
			v2 := v7 && !strings.HasPrefix(p.dst, "redis-6")
			for _, key := range pendingStreamKeys {
				a, b := readStreamFull(t, src.Client(), key), readStreamFull(t, dst.Client(), key)
				if !reflect.DeepEqual(comparableInfo(a, v2), comparableInfo(b, v2)) {
					t.Errorf("%s: info %v in source, %v in target", key, comparableInfo(a, v2), comparableInfo(b, v2))
				}
				if !reflect.DeepEqual(a.Entries, b.Entries) {
					t.Errorf("%s: entries differ: %d in source, %d in target", key, len(a.Entries), len(b.Entries))
				}
				if !reflect.DeepEqual(a.Pending, b.Pending) {
					t.Errorf("%s: pending entries differ:\nsource %v\ntarget %v", key, a.Pending, b.Pending)
				}
				if !reflect.DeepEqual(a.Consumers, b.Consumers) {
					t.Errorf("%s: consumers differ: source %v, target %v", key, a.Consumers, b.Consumers)
				}
				if !v2 {
					for _, g := range b.Groups {
						delete(g, "entries-read")
					}
					for _, g := range a.Groups {
						delete(g, "entries-read")
					}
				}
				if !reflect.DeepEqual(a.Groups, b.Groups) {
					t.Errorf("%s: groups differ: source %v, target %v", key, a.Groups, b.Groups)
				}
			}
			compare(t, src, dst)
		})
	}
}

func replaySnapshotCommands() replay.SnapshotOptions {
	return replay.SnapshotOptions{Mode: transform.ModeCommands}
}
