package sink

import (
	"fmt"
	"strings"

	"github.com/redferry/redferry/pkg/server"
)

// piece is one command for one master: a command of the batch, or the part
// of one that was split by slot.
type piece struct {
	raw   []byte // the command as it came; nil: args
	args  [][]byte
	off   int64
	db    int
	slot  int    // -1: no key
	key   []byte // its first key
	bcast bool   // for every master
}

// appendPieces routes one command, appending to dst: a piece for the slot
// of its keys, pieces for each slot of a command split without changing
// its meaning, or an error for one that a cluster cannot run faithfully.
func (c *Cluster) appendPieces(dst []piece, args [][]byte, raw []byte, off int64, db int, r routed) ([]piece, error) {
	switch r.kind {
	case routeBroadcast:
		return append(dst, piece{raw: raw, args: args, off: off, db: db, slot: -1, bcast: true}), nil
	case routeAny:
		return append(dst, piece{raw: raw, args: args, off: off, db: db, slot: -1}), nil
	}
	slot, same := sameSlot(r.keys)
	if same {
		return append(dst, piece{raw: raw, args: args, off: off, db: db, slot: slot, key: r.keys[0]}), nil
	}
	name := args[0]
	var step int
	switch r.split {
	case splitEach:
		step = 1
	case splitPairs:
		step = 2
		name = []byte("MSET")
		if len(args)%2 != 1 {
			return nil, fmt.Errorf("sink: %s at source offset %d: odd number of key and value arguments", args[0], off)
		}
	default:
		return dst, crossSlotError(args, off, r.keys)
	}
	var out []piece
	bySlot := map[int]int{} // slot → index in out
	for i := 1; i+step-1 < len(args); i += step {
		s := server.KeySlot(args[i])
		j, ok := bySlot[s]
		if !ok {
			j = len(out)
			bySlot[s] = j
			out = append(out, piece{args: [][]byte{name}, off: off, db: db, slot: s, key: args[i]})
		}
		out[j].args = append(out[j].args, args[i:i+step]...)
	}
	return append(dst, out...), nil
}

// crossSlotError names a command that a cluster cannot run as the source
// did because its keys are in different slots.
func crossSlotError(args [][]byte, off int64, keys [][]byte) error {
	var sb strings.Builder
	for i, k := range keys {
		if i == 4 {
			fmt.Fprintf(&sb, " and %d more", len(keys)-i)
			break
		}
		if i > 0 {
			sb.WriteString(", ")
		}
		fmt.Fprintf(&sb, "%q (slot %d)", k, server.KeySlot(k))
	}
	return fmt.Errorf("%w: %s at source offset %d writes keys in different hash slots (%s); the cluster target "+
		"cannot run it as one command and splitting it would change what it does. Use hash tags on the source so "+
		"that the keys share a slot, or leave these keys out with a filter",
		ErrCrossSlot, strings.ToUpper(string(args[0])), off, sb.String())
}

// ErrCrossSlot: a command or transaction of the source writes keys in
// different slots and cannot be applied faithfully to a cluster target.
var ErrCrossSlot = fmt.Errorf("sink: cross-slot command")

// dbError explains a write to a db other than 0 in a cluster that has db 0 only.
func dbError(db int, args [][]byte, off int64) error {
	return fmt.Errorf("sink: %s at source offset %d writes to db %d, but the target cluster holds db 0 only "+
		"(Valkey 9 with cluster-databases holds more): map the source's dbs with db-map (for example db-map = "+
		"\"%d:0\"; keys of the same name in the merged dbs then overwrite each other) or leave db %d out with filter-dbs",
		strings.ToUpper(string(args[0])), off, db, db, db)
}

// redirect is a cluster's answer that a command belongs elsewhere.
type redirect struct {
	kind string // MOVED, ASK, TRYAGAIN, CLUSTERDOWN
	addr string // for MOVED and ASK
}

func parseRedirect(msg string) (redirect, bool) {
	f := strings.Fields(msg)
	if len(f) == 0 {
		return redirect{}, false
	}
	switch f[0] {
	case "MOVED", "ASK":
		if len(f) < 3 {
			return redirect{}, false
		}
		return redirect{kind: f[0], addr: f[2]}, true
	case "TRYAGAIN", "CLUSTERDOWN":
		return redirect{kind: f[0]}, true
	}
	return redirect{}, false
}
