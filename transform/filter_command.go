package transform

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/redferry/redferry/rdbparse"
)

// Action is what happens to a command of the stream.
type Action uint8

const (
	// Keep: send the command as it came.
	Keep Action = iota
	// Drop: leave it out (Outcome.Reason says why).
	Drop
	// Rewrite: send Outcome.Commands instead (a db renumbered, keys left
	// out of a multi-key command, a FLUSHALL narrowed to the taken dbs).
	Rewrite
)

// Outcome is the filter's decision on one command.
type Outcome struct {
	Action Action
	// Reason is why a command is dropped, or why a rewrite left something
	// out ("" for a rewrite that only renumbers dbs): ReasonDB, ReasonKey,
	// ReasonType, ReasonCommand or ReasonConflict.
	Reason string
	// Commands replace the command (Rewrite).
	Commands [][][]byte
	// Conflict says what could not be filtered, for a command skipped
	// because of SkipConflicts (Reason is ReasonConflict).
	Conflict string
}

var keep = Outcome{Action: Keep}

func drop(reason string) Outcome { return Outcome{Action: Drop, Reason: reason} }

func rewrite(reason string, cmds ...[][]byte) Outcome {
	return Outcome{Action: Rewrite, Reason: reason, Commands: cmds}
}

// Command decides on one command of the replication stream, run in source
// db db (the db the stream last SELECTed). A command the filter cannot
// apply without changing what it does on the target (it reads a key left
// out, crosses the db filter from outside in, or is a script whose keys are
// not known) is an error wrapping ErrFilterConflict, or with SkipConflicts
// an Outcome dropping it with the reason.
//
// SELECT is renumbered (or dropped for a db not taken; the caller keeps
// following the source's db); FLUSHALL with a db filter becomes FLUSHDB of
// each taken db; MOVE, COPY … DB and SWAPDB are renumbered, and become what
// they mean for the taken dbs when they cross the boundary from inside.
func (f *Filter) Command(db int, args [][]byte) (Outcome, error) {
	if f == nil || len(args) == 0 {
		return keep, nil
	}
	var buf [24]byte
	name := string(lower(buf[:0], args[0]))
	if f.dropCmds[name] {
		return drop(ReasonCommand), nil
	}
	spec, known := commandTable[name]
	if !known {
		if !f.dbTaken(db) {
			return drop(ReasonDB), nil
		}
		if f.keyRules() {
			return f.conflict(args, "redferry's command table does not know where its keys are")
		}
		return keep, nil
	}
	// Commands that name dbs are decided on before the current db's.
	switch spec.class {
	case classGlobal:
		return keep, nil
	case classSelect:
		return f.selectDB(args)
	case classSwapDB:
		return f.swapDB(args)
	case classFlushAll:
		return f.flushAll(db, args), nil
	case classMove:
		return f.move(db, args)
	case classCopy:
		return f.copyKey(db, args)
	}
	if !f.dbTaken(db) {
		return drop(ReasonDB), nil
	}
	switch spec.class {
	case classFlushDB:
		return keep, nil
	case classScript:
		if f.keyRules() || f.dbRules() {
			return f.conflict(args, "a script replicated as it was called (not as its effects) may touch any key and db: "+
				"on Redis < 7.0 set lua-replicate-commands yes on the source (the default) so scripts replicate as their effects")
		}
		return keep, nil
	case classKeys:
		return f.keys(spec, args)
	case classRestore:
		return f.restore(args)
	case classStore:
		return f.store(spec, args, spec.keyIndexes(args))
	case classSort:
		return f.sort(args)
	case classGeoStore:
		return f.geoStore(args)
	case classPair:
		return f.pair(spec, name, db, args)
	}
	return keep, nil
}

// conflict is the error for a command the filter cannot apply, or its
// Outcome with SkipConflicts.
func (f *Filter) conflict(args [][]byte, why string) (Outcome, error) {
	what := fmt.Sprintf("%s: %s", describe(args), why)
	if f.skip {
		return Outcome{Action: Drop, Reason: ReasonConflict, Conflict: what}, nil
	}
	return Outcome{}, fmt.Errorf("%w: %s; stopping so the target does not silently differ. "+
		"Set on-filter-conflict = \"skip\" to leave such commands out (the target may then differ from the source in the keys they touch)",
		ErrFilterConflict, what)
}

// describe shows a command shortly: its name and first arguments.
func describe(args [][]byte) string {
	var b strings.Builder
	b.WriteString(strings.ToUpper(string(args[0])))
	for i, a := range args[1:] {
		if i == 3 {
			b.WriteString(" …")
			break
		}
		if len(a) > 40 {
			a = append(a[:40:40], "…"...)
		}
		b.WriteString(" " + strconv.Quote(string(a)))
	}
	return b.String()
}

func (f *Filter) dbArg(a []byte) (int, bool) {
	n, err := strconv.Atoi(string(a))
	return n, err == nil && n >= 0
}

func (f *Filter) selectDB(args [][]byte) (Outcome, error) {
	if len(args) != 2 {
		return keep, nil
	}
	n, ok := f.dbArg(args[1])
	if !ok {
		return keep, nil
	}
	to, taken := f.TargetDB(n)
	if !taken {
		return drop(ReasonDB), nil
	}
	if to == n {
		return keep, nil
	}
	return rewrite("", [][]byte{args[0], itoa(to)}), nil
}

func (f *Filter) swapDB(args [][]byte) (Outcome, error) {
	if len(args) != 3 {
		return keep, nil
	}
	a, ok1 := f.dbArg(args[1])
	b, ok2 := f.dbArg(args[2])
	if !ok1 || !ok2 {
		return keep, nil
	}
	ta, inA := f.TargetDB(a)
	tb, inB := f.TargetDB(b)
	switch {
	case !inA && !inB:
		return drop(ReasonDB), nil
	case inA != inB:
		missing := a
		if inA {
			missing = b
		}
		return f.conflict(args, fmt.Sprintf("it swaps a db that is synced with one that is not (filter-dbs): the target has no copy of db %d", missing))
	case ta == a && tb == b:
		return keep, nil
	}
	return rewrite("", [][]byte{args[0], itoa(ta), itoa(tb)}), nil
}

// flushAll narrows FLUSHALL to the taken dbs when there is a db filter,
// then selects the current db again.
func (f *Filter) flushAll(db int, args [][]byte) Outcome {
	if f.dbs == nil {
		return keep
	}
	var cmds [][][]byte
	for _, d := range f.dbList {
		to, _ := f.TargetDB(d)
		flush := [][]byte{[]byte("FLUSHDB")}
		flush = append(flush, args[1:]...) // ASYNC / SYNC
		cmds = append(cmds, [][]byte{[]byte("SELECT"), itoa(to)}, flush)
	}
	if to, taken := f.TargetDB(db); taken {
		cmds = append(cmds, [][]byte{[]byte("SELECT"), itoa(to)})
	}
	return rewrite(ReasonDB, cmds...)
}

// move: MOVE key db.
func (f *Filter) move(db int, args [][]byte) (Outcome, error) {
	if len(args) != 3 {
		return f.currentDBOnly(db)
	}
	dst, ok := f.dbArg(args[2])
	if !ok {
		return f.currentDBOnly(db)
	}
	_, srcIn := f.TargetDB(db)
	to, dstIn := f.TargetDB(dst)
	switch {
	case !f.KeyName(args[1]):
		return drop(ReasonKey), nil
	case !srcIn && !dstIn:
		return drop(ReasonDB), nil
	case !srcIn:
		return f.conflict(args, fmt.Sprintf("it moves a key from db %d, which is not synced, into db %d, which is: the target has no copy of it", db, dst))
	case !dstIn:
		// The key leaves the synced dbs: on the target it is gone.
		return rewrite(ReasonDB, [][]byte{[]byte("DEL"), args[1]}), nil
	case to == dst:
		return keep, nil
	}
	return rewrite("", [][]byte{args[0], args[1], itoa(to)}), nil
}

func (f *Filter) currentDBOnly(db int) (Outcome, error) {
	if !f.dbTaken(db) {
		return drop(ReasonDB), nil
	}
	return keep, nil
}

// filterCopyScript is COPY … REPLACE when types are dropped: a source key the
// target lacks is of a dropped type, and so is the copy, which must then
// not remain on the target. It copies by DUMP and RESTORE, which every
// target has (COPY came with 6.2); ARGV[1] is the destination db.
const filterCopyScript = "local d = redis.call('DUMP', KEYS[1]) " +
	"if not d then redis.call('SELECT', ARGV[1]) return redis.call('DEL', KEYS[2]) end " +
	"local ttl = redis.call('PTTL', KEYS[1]) if ttl < 0 then ttl = 0 end " +
	"redis.call('SELECT', ARGV[1]) redis.call('RESTORE', KEYS[2], ttl, d, 'REPLACE') return 1"

// copyKey: COPY src dst [DB n] [REPLACE].
func (f *Filter) copyKey(db int, args [][]byte) (Outcome, error) {
	if len(args) < 3 {
		return f.currentDBOnly(db)
	}
	dstDB, dbAt, replace := db, -1, false
	for i := 3; i < len(args); i++ {
		switch {
		case is(args[i], "db") && i+1 < len(args):
			n, ok := f.dbArg(args[i+1])
			if !ok {
				return f.currentDBOnly(db)
			}
			dstDB, dbAt = n, i+1
			i++
		case is(args[i], "replace"):
			replace = true
		}
	}
	_, srcIn := f.TargetDB(db)
	to, dstIn := f.TargetDB(dstDB)
	switch {
	case !dstIn:
		return drop(ReasonDB), nil // nothing synced changes
	case !f.KeyName(args[2]):
		return drop(ReasonKey), nil
	case !srcIn:
		return f.conflict(args, fmt.Sprintf("it copies a key of db %d, which is not synced, into db %d, which is: the target has no copy of it", db, dstDB))
	case !f.KeyName(args[1]):
		return f.conflict(args, fmt.Sprintf("it copies key %q, which the key filter leaves out, into a key it takes", args[1]))
	case replace && len(f.dropTypes) > 0:
		return rewrite("", [][]byte{[]byte("EVAL"), []byte(filterCopyScript), []byte("2"), args[1], args[2], itoa(to)}), nil
	case dbAt < 0 || to == dstDB:
		return keep, nil
	}
	out := append([][]byte(nil), args...)
	out[dbAt] = itoa(to)
	return rewrite("", out), nil
}

// keys: commands whose keys are all written (most of them).
func (f *Filter) keys(spec cmdSpec, args [][]byte) (Outcome, error) {
	idx := spec.keyIndexes(args)
	if len(idx) == 0 {
		return keep, nil
	}
	return f.writtenKeys(spec, spec.typ, args, idx)
}

// writtenKeys decides on a command writing the keys at idx, of type typ.
func (f *Filter) writtenKeys(spec cmdSpec, typ string, args [][]byte, idx []int) (Outcome, error) {
	kept := make([]int, 0, len(idx))
	for _, i := range idx {
		if f.KeyName(args[i]) {
			kept = append(kept, i)
		}
	}
	if len(kept) == 0 {
		return drop(ReasonKey), nil
	}
	if f.TypeDropped(typ) {
		if !spec.overwrite {
			// The command needs its key absent or of its own type: on the
			// source it was of the dropped type, or absent; so on the target.
			return drop(ReasonType), nil
		}
		// It may have replaced a key of a kept type: that one is gone.
		del := [][]byte{[]byte("DEL")}
		for _, i := range kept {
			del = append(del, args[i])
		}
		return rewrite(ReasonType, del), nil
	}
	if len(kept) == len(idx) {
		return keep, nil
	}
	if !spec.split {
		return f.conflict(args, "it writes keys the key filter takes and keys it leaves out together, and cannot be split")
	}
	step := max(spec.step, 1)
	out := append([][]byte(nil), args[:idx[0]]...)
	for _, i := range kept {
		out = append(out, args[i:min(i+step, len(args))]...)
	}
	out = append(out, args[min(idx[len(idx)-1]+step, len(args)):]...)
	return rewrite(ReasonKey, out), nil
}

// restore: RESTORE key ttl payload [REPLACE] …, whose payload says the type.
func (f *Filter) restore(args [][]byte) (Outcome, error) {
	if len(args) < 4 {
		return keep, nil
	}
	typ := payloadTypeName(args[3])
	spec := cmdSpec{class: classKeys}
	for _, a := range args[4:] {
		if is(a, "replace") {
			spec.overwrite = true
		}
	}
	if typ == "" && len(f.dropTypes) > 0 && f.KeyName(args[1]) {
		return f.conflict(args, "its payload's type is not known, and key types are filtered")
	}
	return f.writtenKeys(spec, typ, args, []int{1})
}

// store: the key at idx[0] is written from the keys at idx[1:].
func (f *Filter) store(spec cmdSpec, args [][]byte, idx []int) (Outcome, error) {
	if len(idx) == 0 {
		return keep, nil
	}
	out, err := f.writtenKeys(spec, spec.typ, args, idx[:1])
	if err != nil || out.Action != Keep {
		return out, err
	}
	for _, i := range idx[1:] {
		if !f.KeyName(args[i]) {
			return f.conflict(args, fmt.Sprintf("it writes a key the filter takes from key %q, which the key filter leaves out", args[i]))
		}
	}
	for _, t := range spec.readTypes {
		if f.TypeDropped(t) {
			return f.conflict(args, fmt.Sprintf("it may read a %s, a type the filter drops, into a %s it keeps", t, spec.typ))
		}
	}
	return keep, nil
}

// sort: SORT key [BY pattern] [LIMIT o c] [GET pattern …] [ASC|DESC] [ALPHA] [STORE dst].
func (f *Filter) sort(args [][]byte) (Outcome, error) {
	storeAt, patterns := -1, false
	for i := 2; i+1 < len(args); i++ {
		switch {
		case is(args[i], "store"):
			storeAt = i + 1
			i++
		case is(args[i], "by"):
			patterns = patterns || !is(args[i+1], "nosort")
			i++
		case is(args[i], "get"):
			patterns = patterns || !bytes.Equal(args[i+1], []byte("#"))
			i++
		case is(args[i], "limit"):
			i += 2
		}
	}
	if storeAt < 0 || len(args) < 2 {
		return keep, nil
	}
	if patterns && f.keyRules() {
		if !f.KeyName(args[storeAt]) {
			return drop(ReasonKey), nil
		}
		return f.conflict(args, "its BY or GET patterns read keys the filter may leave out")
	}
	spec := cmdSpec{class: classStore, typ: "list", overwrite: true, readTypes: []string{"list", "set", "zset"}}
	return f.store(spec, args, []int{storeAt, 1})
}

// geoStore: GEORADIUS[BYMEMBER] key … STORE|STOREDIST dst.
func (f *Filter) geoStore(args [][]byte) (Outcome, error) {
	for i := 2; i+1 < len(args); i++ {
		if is(args[i], "store") || is(args[i], "storedist") {
			return f.store(store("zset", 0, 0, 0, "zset"), args, []int{i + 1, 1})
		}
	}
	return keep, nil // no STORE: a read, never propagated
}

// renameScript is RENAME when types are dropped: a source key the target
// lacks is of a dropped type, and so is the renamed key, which must then
// not remain on the target under its new name either.
const renameScript = "if redis.call('exists', KEYS[1]) == 1 then return redis.call(ARGV[1], KEYS[1], KEYS[2]) end " +
	"if ARGV[1] == 'rename' then return redis.call('del', KEYS[2]) end return 0"

// pair: a command that writes a source key at 1 and a destination key at 2.
func (f *Filter) pair(spec cmdSpec, name string, db int, args [][]byte) (Outcome, error) {
	if len(args) < 3 {
		return keep, nil
	}
	src, dst := args[1], args[2]
	srcIn, dstIn := f.KeyName(src), f.KeyName(dst)
	switch {
	case !srcIn && !dstIn:
		return drop(ReasonKey), nil
	case f.TypeDropped(spec.typ):
		return drop(ReasonType), nil
	case srcIn && dstIn:
		if spec.typ == "" && len(f.dropTypes) > 0 {
			return rewrite("", [][]byte{[]byte("EVAL"), []byte(renameScript), []byte("2"), src, dst, []byte(name)}), nil
		}
		return keep, nil
	case srcIn:
		// Only the source key is synced: what the command does to it.
		switch name {
		case "rename", "renamenx":
			return rewrite(ReasonKey, [][]byte{[]byte("DEL"), src}), nil
		case "rpoplpush", "brpoplpush":
			return rewrite(ReasonKey, [][]byte{[]byte("RPOP"), src}), nil
		case "lmove", "blmove":
			if len(args) >= 5 && side(args[3]) != "" {
				return rewrite(ReasonKey, [][]byte{[]byte(map[string]string{"LEFT": "LPOP", "RIGHT": "RPOP"}[side(args[3])]), src}), nil
			}
		case "smove":
			if len(args) == 4 {
				return rewrite(ReasonKey, [][]byte{[]byte("SREM"), src, args[3]}), nil
			}
		}
	case name == "smove" && len(args) == 4:
		// Only the destination is synced; a propagated SMOVE moved the member.
		return rewrite(ReasonKey, [][]byte{[]byte("SADD"), dst, args[3]}), nil
	}
	return f.conflict(args, fmt.Sprintf("it moves data between key %q and key %q, and the key filter takes only one of them", src, dst))
}

// payloadTypeName is the type of a RESTORE payload, "" when unknown.
func payloadTypeName(payload []byte) string {
	t, ok := rdbparse.PayloadType(payload)
	if !ok {
		return ""
	}
	return t.String()
}
