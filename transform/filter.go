package transform

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// FilterOptions say what of the source a sync, a restore or a verify takes.
// The zero value takes everything.
type FilterOptions struct {
	// DBs are the source dbs to take; empty: every db.
	DBs []int
	// DBMap maps a source db to the target db it is written to; a db not in
	// it keeps its number. Two source dbs may not land in one target db.
	DBMap map[int]int
	// KeysAllow, when not empty, takes only the keys that match one of its
	// patterns; KeysDeny leaves out the keys that match one of its. A pattern
	// is "prefix:<text>", "glob:<Redis glob>" or "regex:<Go regexp>".
	KeysAllow, KeysDeny []string
	// CommandsDrop are command names left out of the stream (any case).
	CommandsDrop []string
	// TypesDrop are the types of keys left out: string, list, set, zset,
	// hash, stream, module. They apply to snapshot keys and to the stream's
	// commands of that type.
	TypesDrop []string
	// SkipConflicts leaves out a command the filter cannot apply (one that
	// crosses the filter's boundary, see Filter.Command) instead of stopping.
	SkipConflicts bool
}

// Reasons a key or a command is left out (labels of the filtered counters).
const (
	ReasonDB       = "db"       // its db is not taken
	ReasonKey      = "key"      // its key's name is not taken
	ReasonType     = "type"     // its key's type is dropped
	ReasonCommand  = "command"  // the command is in CommandsDrop
	ReasonConflict = "conflict" // the filter cannot apply it; skipped (SkipConflicts)
)

// TypeNames are the key types TypesDrop knows (as TYPE answers; module
// stands for every module type).
var TypeNames = []string{"string", "list", "set", "zset", "hash", "stream", "module"}

// ErrFilterConflict is wrapped by the errors of commands the filter cannot
// apply without changing their meaning.
var ErrFilterConflict = errors.New("the filter cannot apply this command")

// Filter decides which keys and commands of the source reach the target,
// and in which target db. It is pure: no I/O, no state; safe for concurrent
// use. A nil *Filter takes everything unchanged.
type Filter struct {
	dbs       map[int]bool // nil: every db
	dbList    []int        // sorted dbs, when dbs is set
	dbMap     map[int]int
	allow     []keyPattern
	deny      []keyPattern
	dropCmds  map[string]bool
	dropTypes map[string]bool
	skip      bool
}

// NewFilter checks and compiles o. It returns nil (take everything) when o
// filters nothing.
func NewFilter(o FilterOptions) (*Filter, error) {
	var errs []error
	f := &Filter{skip: o.SkipConflicts, dbMap: map[int]int{}}
	if len(o.DBs) > 0 {
		f.dbs = map[int]bool{}
		for _, db := range o.DBs {
			if db < 0 {
				errs = append(errs, fmt.Errorf("filter-dbs: %d is not a db number", db))
			}
			f.dbs[db] = true
		}
		for db := range f.dbs {
			f.dbList = append(f.dbList, db)
		}
		sort.Ints(f.dbList)
	}
	for from, to := range o.DBMap {
		if from < 0 || to < 0 {
			errs = append(errs, fmt.Errorf("db-map: %d:%d: db numbers are >= 0", from, to))
			continue
		}
		if from != to {
			f.dbMap[from] = to
		}
	}
	errs = append(errs, f.checkMapInjective())
	for _, p := range o.KeysAllow {
		kp, err := parseKeyPattern(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("filter-keys-allow: %w", err))
		}
		f.allow = append(f.allow, kp)
	}
	for _, p := range o.KeysDeny {
		kp, err := parseKeyPattern(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("filter-keys-deny: %w", err))
		}
		f.deny = append(f.deny, kp)
	}
	for _, c := range o.CommandsDrop {
		name := strings.ToLower(strings.TrimSpace(c))
		switch name {
		case "":
			errs = append(errs, errors.New("filter-commands-drop: an empty command name"))
		case "select", "multi", "exec":
			errs = append(errs, fmt.Errorf("filter-commands-drop: %s cannot be dropped: the commands after it would change meaning", strings.ToUpper(name)))
		}
		if f.dropCmds == nil {
			f.dropCmds = map[string]bool{}
		}
		f.dropCmds[name] = true
	}
	for _, t := range o.TypesDrop {
		name := strings.ToLower(strings.TrimSpace(t))
		if !slices.Contains(TypeNames, name) {
			errs = append(errs, fmt.Errorf("filter-types-drop: %q is not one of %s", t, strings.Join(TypeNames, ", ")))
		}
		if f.dropTypes == nil {
			f.dropTypes = map[string]bool{}
		}
		f.dropTypes[name] = true
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if f.dbs == nil && len(f.dbMap) == 0 && !f.keyRules() && f.dropCmds == nil {
		return nil, nil
	}
	return f, nil
}

// checkMapInjective refuses a map that writes two taken source dbs into one
// target db (an unmapped db keeps its number).
func (f *Filter) checkMapInjective() error {
	into := map[int]int{}
	var errs []error
	for from, to := range f.dbMap {
		if !f.dbTaken(from) {
			continue
		}
		if other, ok := into[to]; ok {
			errs = append(errs, fmt.Errorf("db-map: db %d and db %d both go to db %d: give each source db its own target db", min(from, other), max(from, other), to))
		}
		into[to] = from
		if _, mapped := f.dbMap[to]; !mapped && f.dbTaken(to) {
			errs = append(errs, fmt.Errorf("db-map: db %d goes to db %d, which db %d keeps too: map db %d elsewhere or leave it out with filter-dbs", from, to, to, to))
		}
	}
	return errors.Join(errs...)
}

func (f *Filter) dbTaken(db int) bool { return f.dbs == nil || f.dbs[db] }

// keyRules: keys are chosen by name or type.
func (f *Filter) keyRules() bool {
	return len(f.allow) > 0 || len(f.deny) > 0 || len(f.dropTypes) > 0
}

// dbRules: dbs are chosen or renumbered.
func (f *Filter) dbRules() bool { return f.dbs != nil || len(f.dbMap) > 0 }

// TargetDB is the target db of source db db, and whether db is taken.
func (f *Filter) TargetDB(db int) (int, bool) {
	if f == nil {
		return db, true
	}
	if !f.dbTaken(db) {
		return db, false
	}
	if to, ok := f.dbMap[db]; ok {
		return to, true
	}
	return db, true
}

// SourceDB is the source db written to target db db, and whether one is.
func (f *Filter) SourceDB(db int) (int, bool) {
	if f == nil {
		return db, true
	}
	for from, to := range f.dbMap {
		if to == db && f.dbTaken(from) {
			return from, true
		}
	}
	if _, moved := f.dbMap[db]; !moved && f.dbTaken(db) {
		return db, true
	}
	return 0, false
}

// SourceDBs are the source dbs taken, sorted; nil: every db.
func (f *Filter) SourceDBs() []int {
	if f == nil {
		return nil
	}
	return f.dbList
}

// Key decides on a key of db whose type is typ (as TYPE answers; "" when
// unknown): keep, or the reason it is left out.
func (f *Filter) Key(db int, key []byte, typ string) (keep bool, reason string) {
	if f == nil {
		return true, ""
	}
	if !f.dbTaken(db) {
		return false, ReasonDB
	}
	if !f.KeyName(key) {
		return false, ReasonKey
	}
	if f.TypeDropped(typ) {
		return false, ReasonType
	}
	return true, ""
}

// KeyName reports whether the key's name is taken (allow and deny lists).
func (f *Filter) KeyName(key []byte) bool {
	if f == nil {
		return true
	}
	if len(f.allow) > 0 {
		ok := false
		for _, p := range f.allow {
			if p.match(key) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	for _, p := range f.deny {
		if p.match(key) {
			return false
		}
	}
	return true
}

// TypeDropped reports whether keys of type typ are left out; any module
// type counts as "module".
func (f *Filter) TypeDropped(typ string) bool {
	if f == nil || len(f.dropTypes) == 0 || typ == "" {
		return false
	}
	if f.dropTypes[typ] {
		return true
	}
	return f.dropTypes["module"] && !slices.Contains(TypeNames, typ)
}

// ParseDBMap parses "0:1,3:0" (source:target pairs).
func ParseDBMap(s string) (map[int]int, error) {
	out := map[int]int{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for _, pair := range strings.Split(s, ",") {
		from, to, ok := strings.Cut(strings.TrimSpace(pair), ":")
		a, err1 := strconv.Atoi(strings.TrimSpace(from))
		b, err2 := strconv.Atoi(strings.TrimSpace(to))
		if !ok || err1 != nil || err2 != nil || a < 0 || b < 0 {
			return nil, fmt.Errorf("%q is not source-db:target-db (e.g. \"0:1,3:0\")", pair)
		}
		if prev, dup := out[a]; dup && prev != b {
			return nil, fmt.Errorf("db %d is mapped twice (to %d and %d)", a, prev, b)
		}
		out[a] = b
	}
	return out, nil
}

// Active reports whether f leaves anything out or maps any db; a nil Filter
// is not active.
func (f *Filter) Active() bool {
	return f != nil && (f.keyRules() || f.dbRules() || len(f.dropCmds) > 0 || len(f.dropTypes) > 0)
}
