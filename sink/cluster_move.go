package sink

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/redferry/redferry/pkg/server"
)

// A command that moves or combines values between keys in different slots
// cannot run in a cluster. It is carried out by a sequence the cluster can
// run, computed with the source's semantics (the command was propagated,
// so it did what it does on the source), once everything before it in the
// batch is applied:
//
//   - SMOVE src dst m: SREM src m, SADD dst m (no read);
//   - RENAME src dst, COPY src dst: DUMP and PTTL of src, RESTORE dst
//     REPLACE (and DEL src for RENAME);
//   - LMOVE, RPOPLPUSH (and their blocking forms): the element moved is
//     read at src (LINDEX), pushed to dst, popped from src;
//   - *STORE, BITOP, PFMERGE, GEOSEARCHSTORE, SORT … STORE, and the
//     scripts standing for the *STORE commands a target lacks (StoreScript):
//     the source keys outside dst's slot are copied (DUMP/RESTORE) into
//     temporary keys of dst's slot, the command runs there on them, and
//     they are deleted, all in dst's slot's transaction.
//
// The sequences add only commands every supported target has (Redis 6.0
// too): DUMP, PTTL, RESTORE, LINDEX, pushes, pops, SADD, SREM, DEL.
//
// Each step is a transaction of one slot with that slot's mark (offset of
// the command): the write to dst lands before the change to src, so a
// restart in between skips dst's part (its mark covers it) and does src's,
// which needs no read.

// move carries out a command moving a value between keys in different slots.
func (tx *clusterTx) move(ctx context.Context, args [][]byte, off int64, db int, r routed) error {
	name := strings.ToLower(string(args[0]))
	upto := position{Streaming: tx.streaming, Off: off}
	// need: the part writing key is not yet applied (after a restart, its
	// slot's mark may cover it; commit skips it too, but its read is
	// needless then, and may be impossible: src may be gone).
	need := func(key []byte) bool {
		return !tx.withMarks || !tx.c.marks.covered(server.KeySlot(key), tx.streaming, off)
	}
	apply := func(key []byte, cmds ...[][]byte) error {
		if !need(key) {
			return nil
		}
		var ps []piece
		for _, a := range cmds {
			ps = append(ps, piece{args: a, off: off, db: db, slot: server.KeySlot(key), key: key})
		}
		return tx.commit(ctx, ps, upto)
	}
	switch name {
	case "smove":
		if len(args) != 4 {
			break
		}
		src, dst, m := args[1], args[2], args[3]
		if err := apply(dst, [][]byte{[]byte("SADD"), dst, m}); err != nil {
			return err
		}
		return apply(src, [][]byte{[]byte("SREM"), src, m})
	case "rename", "renamenx", "copy":
		if len(args) < 3 {
			break
		}
		src, dst := args[1], args[2]
		toDB := db
		if name == "copy" {
			for i := 3; i+1 < len(args); i++ {
				if bytes.EqualFold(args[i], []byte("db")) {
					n, err := strconv.Atoi(string(args[i+1]))
					if err != nil {
						return fmt.Errorf("sink: COPY at source offset %d: DB %q", off, args[i+1])
					}
					toDB = n
				}
			}
			if toDB != 0 && !tx.c.dbs {
				return dbError(toDB, args, off)
			}
		}
		if need(dst) {
			restore, err := tx.dumpRestore(ctx, db, src, dst, args, off)
			if err != nil {
				return err
			}
			ps := []piece{{args: restore, off: off, db: toDB, slot: server.KeySlot(dst), key: dst}}
			if err := tx.commit(ctx, ps, upto); err != nil {
				return err
			}
		}
		if name == "copy" {
			return nil
		}
		return apply(src, [][]byte{[]byte("DEL"), src})
	case "lmove", "blmove", "rpoplpush", "brpoplpush":
		if len(args) < 3 {
			break
		}
		src, dst := args[1], args[2]
		from, to := "RIGHT", "LEFT"
		if name == "lmove" || name == "blmove" {
			if len(args) < 5 {
				break
			}
			from, to = strings.ToUpper(string(args[3])), strings.ToUpper(string(args[4]))
		}
		if need(dst) {
			idx := "0"
			if from == "RIGHT" {
				idx = "-1"
			}
			elem, err := tx.c.keyCommand(ctx, db, string(src), "LINDEX", string(src), idx)
			if err != nil {
				return fmt.Errorf("sink: %s at source offset %d: reading the element to move from %q: %w", name, off, src, err)
			}
			if elem == nil {
				return fmt.Errorf("sink: %s at source offset %d: the list %q is empty on the target, the source moved an element "+
					"from it: the target differs from the source (check it with redferry verify)", strings.ToUpper(name), off, src)
			}
			push := "LPUSH"
			if to == "RIGHT" {
				push = "RPUSH"
			}
			if err := apply(dst, [][]byte{[]byte(push), dst, elem}); err != nil {
				return err
			}
		}
		pop := "RPOP"
		if from == "LEFT" {
			pop = "LPOP"
		}
		return apply(src, [][]byte{[]byte(pop), src})
	default:
		return tx.storeMove(ctx, args, off, db, r, name)
	}
	return crossSlotError(args, off, r.keys)
}

// dumpRestore reads src (DUMP, PTTL) and returns RESTORE dst ttl payload REPLACE.
func (tx *clusterTx) dumpRestore(ctx context.Context, db int, src, dst []byte, args [][]byte, off int64) ([][]byte, error) {
	payload, err := tx.c.keyCommand(ctx, db, string(src), "DUMP", string(src))
	if err != nil {
		return nil, fmt.Errorf("sink: %s at source offset %d: reading %q (DUMP): %w", strings.ToUpper(string(args[0])), off, src, err)
	}
	if payload == nil {
		return nil, fmt.Errorf("sink: %s at source offset %d: %q does not exist on the target, the source moved its value: "+
			"the target differs from the source (check it with redferry verify)", strings.ToUpper(string(args[0])), off, src)
	}
	pttl, err := tx.c.keyCommand(ctx, db, string(src), "PTTL", string(src))
	if err != nil {
		return nil, fmt.Errorf("sink: %s at source offset %d: reading %q (PTTL): %w", strings.ToUpper(string(args[0])), off, src, err)
	}
	ttl := "0"
	if n, _ := strconv.ParseInt(string(pttl), 10, 64); n > 0 {
		ttl = strconv.FormatInt(n, 10)
	}
	return [][]byte{[]byte("RESTORE"), dst, []byte(ttl), payload, []byte("REPLACE")}, nil
}

// storeSources gives, for the commands that write one key from others, the
// index of the destination and of the source keys.
func storeSources(name string, args [][]byte) (dst int, srcs []int, ok bool) {
	rangeFrom := func(from, to int) []int {
		var out []int
		for i := from; i < to && i < len(args); i++ {
			out = append(out, i)
		}
		return out
	}
	switch name {
	case "eval": // a StoreScript: EVAL script n dst src…
		if len(args) < 5 || !isStoreScript(args) {
			return 0, nil, false
		}
		n, err := strconv.Atoi(string(args[2]))
		if err != nil || n < 2 || 3+n > len(args) {
			return 0, nil, false
		}
		return 3, rangeFrom(4, 3+n), true
	case "sinterstore", "sunionstore", "sdiffstore", "pfmerge":
		return 1, rangeFrom(2, len(args)), len(args) > 2
	case "zunionstore", "zinterstore", "zdiffstore":
		if len(args) < 4 {
			return 0, nil, false
		}
		n, err := strconv.Atoi(string(args[2]))
		if err != nil || 3+n > len(args) {
			return 0, nil, false
		}
		return 1, rangeFrom(3, 3+n), true
	case "zrangestore", "geosearchstore":
		return 1, []int{2}, len(args) > 2
	case "bitop":
		return 2, rangeFrom(3, len(args)), len(args) > 3
	case "sort", "georadius", "georadiusbymember":
		for i := 2; i+1 < len(args); i++ {
			a := strings.ToLower(string(args[i]))
			if name == "sort" && (a == "by" || a == "get") {
				return 0, nil, false // patterns read other keys: not carried over
			}
			if a == "store" || a == "storedist" {
				return i + 1, []int{1}, true
			}
		}
	}
	return 0, nil, false
}

// storeMove runs a command that writes one key from others in dst's slot,
// on temporary copies of the source keys held elsewhere.
func (tx *clusterTx) storeMove(ctx context.Context, args [][]byte, off int64, db int, r routed, name string) error {
	dstAt, srcs, ok := storeSources(name, args)
	if !ok {
		return crossSlotError(args, off, r.keys)
	}
	dst := args[dstAt]
	if tx.withMarks && tx.c.marks.covered(server.KeySlot(dst), tx.streaming, off) {
		return nil
	}
	slot := server.KeySlot(dst)
	tag := tx.c.tag(slot)
	cmd := append([][]byte(nil), args...)
	var restores, tmps [][]byte
	for _, i := range srcs {
		if server.KeySlot(args[i]) == slot {
			continue
		}
		tmp := []byte("redferry:tmp:" + strconv.Itoa(i) + "{" + tag + "}")
		cmd[i] = tmp
		tmps = append(tmps, tmp)
		payload, err := tx.c.keyCommand(ctx, db, string(args[i]), "DUMP", string(args[i]))
		if err != nil {
			return fmt.Errorf("sink: %s at source offset %d: reading %q (DUMP): %w", strings.ToUpper(name), off, args[i], err)
		}
		if payload != nil {
			restores = append(restores, tmp, payload)
		}
	}
	var ps []piece
	add := func(a ...[]byte) { ps = append(ps, piece{args: a, off: off, db: db, slot: slot, key: dst}) }
	for i := 0; i+1 < len(restores); i += 2 {
		add([]byte("RESTORE"), restores[i], []byte("0"), restores[i+1], []byte("REPLACE"))
	}
	add(cmd...)
	if len(tmps) > 0 {
		add(append([][]byte{[]byte("DEL")}, tmps...)...)
	}
	return tx.commit(ctx, ps, position{Streaming: tx.streaming, Off: off})
}
