package sink

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/redferry/redferry/pkg/server"
)

// keySpec is where a command's keys are, as the target's COMMAND says:
// from first to last (negative: from the end) every step.
type keySpec struct{ first, last, step int }

// commandTable holds the key positions of the target's commands, by lower
// case name.
type commandTable map[string]keySpec

// loadCommandTable asks a target node for COMMAND.
func loadCommandTable(ctx context.Context, cfg *Config, addr string) (commandTable, error) {
	c := server.NewClient(server.ClientOptions{Addr: addr, Username: cfg.Username, Password: cfg.Password, TLS: cfg.TLS,
		DialTimeout: cfg.DialTimeout, IOTimeout: cfg.IOTimeout, PoolSize: 1})
	defer c.Close()
	infos, err := c.Command(ctx).Result()
	if err != nil {
		return nil, fmt.Errorf("sink: COMMAND on %s (needed to route commands by key): %w", addr, err)
	}
	t := make(commandTable, len(infos))
	for name, ci := range infos {
		t[strings.ToLower(name)] = keySpec{int(ci.FirstKeyPos), int(ci.LastKeyPos), int(ci.StepCount)}
	}
	return t, nil
}

// routeKind says where a command goes in a cluster.
type routeKind int

const (
	routeKeys      routeKind = iota // to the master of its keys' slot
	routeAny                        // no key: to one master (the owner of slot 0)
	routeBroadcast                  // to every master: FLUSHALL, FLUSHDB, FUNCTION, SCRIPT
	routeSelect                     // SELECT: changes the db of what follows
)

// splitKind says how a command whose keys are in different slots is carried
// out in a cluster.
type splitKind int

const (
	splitNone  splitKind = iota // cannot be split: stop (or split by option, see OnCrossSlot)
	splitEach                   // DEL k1 k2 …: one command per slot, same meaning
	splitPairs                  // MSET k1 v1 k2 v2 …: one command per slot
	splitMove                   // moves a value between keys: a sequence computed on the target (cluster_move.go)
)

// routed is a command and where its keys are.
type routed struct {
	kind  routeKind
	keys  [][]byte
	split splitKind
}

var splitKinds = map[string]splitKind{
	"del": splitEach, "unlink": splitEach, "touch": splitEach,
	// A propagated MSETNX set every key (one that sets nothing is not
	// propagated), so on a target in the same state it is an MSET.
	"mset": splitPairs, "msetnx": splitPairs,
	"rename": splitMove, "renamenx": splitMove, "copy": splitMove, "smove": splitMove,
	"lmove": splitMove, "rpoplpush": splitMove, "blmove": splitMove, "brpoplpush": splitMove,
	"sinterstore": splitMove, "sunionstore": splitMove, "sdiffstore": splitMove,
	"zunionstore": splitMove, "zinterstore": splitMove, "zdiffstore": splitMove, "zrangestore": splitMove,
	"bitop": splitMove, "pfmerge": splitMove, "geosearchstore": splitMove,
}

// newerMoveKeys are the key positions of the moves a target before 6.2
// has no COMMAND entry for: the Translator hands them to the cluster sink
// as they are when their keys are in different slots (the sink carries
// them out with commands the target has).
var newerMoveKeys = map[string]keySpec{"copy": {1, 2, 1}, "lmove": {1, 2, 1}, "blmove": {1, 2, 1}}

var broadcastCommands = map[string]bool{"flushall": true, "flushdb": true, "function": true, "script": true, "swapdb": true}

// route finds the keys of a write command.
func (t commandTable) route(args [][]byte) routed {
	name := strings.ToLower(string(args[0]))
	if broadcastCommands[name] {
		return routed{kind: routeBroadcast}
	}
	if name == "select" {
		return routed{kind: routeSelect}
	}
	r := routed{kind: routeKeys, split: splitKinds[name]}
	switch name {
	case "eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro":
		r.keys = numKeys(args, 2, 3)
		if isStoreScript(args) {
			r.split = splitMove
		}
	case "zunionstore", "zinterstore", "zdiffstore":
		if len(args) > 1 {
			r.keys = append([][]byte{args[1]}, numKeys(args, 2, 3)...)
		}
	case "lmpop", "zmpop", "sintercard", "zintercard":
		r.keys = numKeys(args, 1, 2)
	case "blmpop", "bzmpop":
		r.keys = numKeys(args, 2, 3)
	case "xgroup", "xinfo", "object":
		if len(args) > 2 {
			r.keys = [][]byte{args[2]}
		}
	case "sort", "georadius", "georadiusbymember":
		if len(args) > 1 {
			r.keys = [][]byte{args[1]}
		}
		for i := 2; i+1 < len(args); i++ {
			if bytes.EqualFold(args[i], []byte("store")) || bytes.EqualFold(args[i], []byte("storedist")) {
				r.keys = append(r.keys, args[i+1])
				r.split = splitMove
			}
		}
	default:
		spec, ok := t[name]
		if !ok {
			spec, ok = newerMoveKeys[name]
		}
		if !ok || spec.first <= 0 {
			break
		}
		last := spec.last
		if last < 0 {
			last = len(args) + last
		}
		step := max(spec.step, 1)
		for i := spec.first; i <= last && i < len(args); i += step {
			r.keys = append(r.keys, args[i])
		}
	}
	if len(r.keys) == 0 {
		r.kind = routeAny
	}
	return r
}

// numKeys reads "numkeys key…" with numkeys at args[at] and the keys from
// args[from] on.
func numKeys(args [][]byte, at, from int) [][]byte {
	if len(args) <= at {
		return nil
	}
	n, err := strconv.Atoi(string(args[at]))
	if err != nil || n <= 0 || from+n > len(args) {
		return nil
	}
	return args[from : from+n]
}

// sameSlot returns the slot of keys, and false when they are in different
// slots.
func sameSlot(keys [][]byte) (int, bool) {
	slot := server.KeySlot(keys[0])
	for _, k := range keys[1:] {
		if server.KeySlot(k) != slot {
			return slot, false
		}
	}
	return slot, true
}
