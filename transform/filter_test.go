package transform

import (
	"errors"
	"strings"
	"testing"
)

func cmd(s string) [][]byte {
	var out [][]byte
	for _, f := range strings.Fields(s) {
		out = append(out, []byte(f))
	}
	return out
}

func show(cmds [][][]byte) string {
	var lines []string
	for _, c := range cmds {
		var parts []string
		for _, a := range c {
			parts = append(parts, string(a))
		}
		lines = append(lines, strings.Join(parts, " "))
	}
	return strings.Join(lines, " | ")
}

func mustFilter(t *testing.T, o FilterOptions) *Filter {
	t.Helper()
	f, err := NewFilter(o)
	if err != nil {
		t.Fatalf("NewFilter(%+v): %v", o, err)
	}
	return f
}

func TestFilterCommand(t *testing.T) {
	users := FilterOptions{KeysAllow: []string{"prefix:user:", "glob:*:v2", "regex:^s[0-9]+$"}, KeysDeny: []string{"prefix:user:tmp:"}}
	dbs := FilterOptions{DBs: []int{0, 3}, DBMap: map[int]int{0: 1, 3: 0}}
	types := FilterOptions{TypesDrop: []string{"hash", "set"}}
	hashPayload := string(AppendDumpPayload(nil, []byte{4, 1, 1, 'f', 1, 'v'}, 9))
	strPayload := string(AppendDumpPayload(nil, []byte{0, 3, 'a', 'b', 'c'}, 9))
	tests := []struct {
		name   string
		opt    FilterOptions
		db     int
		cmd    string
		args   [][]byte // instead of cmd, for binary arguments
		action Action
		reason string
		want   string // the rewritten commands
		err    bool
	}{
		// keys by name
		{name: "allowed prefix", opt: users, cmd: "SET user:1 x", action: Keep},
		{name: "allowed glob", opt: users, cmd: "INCR cart:v2", action: Keep},
		{name: "allowed regex", opt: users, cmd: "LPUSH s42 a", action: Keep},
		{name: "regex anchored", opt: users, cmd: "LPUSH s42x a", action: Drop, reason: ReasonKey},
		{name: "not allowed", opt: users, cmd: "SET order:1 x", action: Drop, reason: ReasonKey},
		{name: "denied inside allowed", opt: users, cmd: "SET user:tmp:1 x", action: Drop, reason: ReasonKey},
		{name: "key of xgroup at 2", opt: users, cmd: "XGROUP CREATE order:s g $", action: Drop, reason: ReasonKey},
		{name: "mset split keeps values", opt: users, cmd: "MSET user:1 a order:1 b user:2 c", action: Rewrite, reason: ReasonKey, want: "MSET user:1 a user:2 c"},
		{name: "del split", opt: users, cmd: "DEL order:1 user:1 order:2", action: Rewrite, reason: ReasonKey, want: "DEL user:1"},
		{name: "unlink all out", opt: users, cmd: "UNLINK order:1 order:2", action: Drop, reason: ReasonKey},
		{name: "mset missing its last value", opt: users, cmd: "MSET user:1 a order:1", action: Rewrite, reason: ReasonKey, want: "MSET user:1 a"},
		{name: "msetnx split", opt: users, cmd: "MSETNX user:1 a order:1 b", action: Rewrite, reason: ReasonKey, want: "MSETNX user:1 a"},
		{name: "store from a key left out", opt: users, cmd: "SUNIONSTORE user:u order:a user:b", err: true},
		{name: "store into a key left out", opt: users, cmd: "SUNIONSTORE order:u user:a", action: Drop, reason: ReasonKey},
		{name: "zunionstore numkeys", opt: users, cmd: "ZUNIONSTORE user:z 2 user:a user:b WEIGHTS 1 2", action: Keep},
		{name: "zunionstore numkeys out", opt: users, cmd: "ZUNIONSTORE user:z 2 user:a order:b", err: true},
		{name: "bitop dest at 2", opt: users, cmd: "BITOP OR user:d user:a user:b", action: Keep},
		{name: "rename out of the filter", opt: users, cmd: "RENAME user:1 order:1", action: Rewrite, reason: ReasonKey, want: "DEL user:1"},
		{name: "rename into the filter", opt: users, cmd: "RENAME order:1 user:1", err: true},
		{name: "rpoplpush out", opt: users, cmd: "RPOPLPUSH user:l order:l", action: Rewrite, reason: ReasonKey, want: "RPOP user:l"},
		{name: "lmove out", opt: users, cmd: "LMOVE user:l order:l LEFT RIGHT", action: Rewrite, reason: ReasonKey, want: "LPOP user:l"},
		{name: "smove out", opt: users, cmd: "SMOVE user:s order:s m", action: Rewrite, reason: ReasonKey, want: "SREM user:s m"},
		{name: "smove in", opt: users, cmd: "SMOVE order:s user:s m", action: Rewrite, reason: ReasonKey, want: "SADD user:s m"},
		{name: "copy from a key left out", opt: users, cmd: "COPY order:1 user:1", err: true},
		{name: "unknown command with key rules", opt: users, cmd: "JSON.SET user:1 $ 1", err: true},
		{name: "unknown command skipped", opt: FilterOptions{KeysAllow: []string{"prefix:a"}, SkipConflicts: true}, cmd: "JSON.SET a $ 1", action: Drop, reason: ReasonConflict},
		{name: "eval with key rules", opt: users, cmd: "EVAL return 1 1 user:1", err: true},
		{name: "eval with only commands dropped", opt: FilterOptions{CommandsDrop: []string{"publish"}}, cmd: "EVAL return 1 0", action: Keep},
		{name: "multi passes", opt: users, cmd: "MULTI", action: Keep},
		{name: "publish passes", opt: users, cmd: "PUBLISH order:c m", action: Keep},
		{name: "sort store reads patterns", opt: users, cmd: "SORT user:l BY w_* STORE user:o", err: true},
		{name: "sort store plain", opt: users, cmd: "SORT user:l ALPHA STORE user:o", action: Keep},
		{name: "georadius store out", opt: users, cmd: "GEORADIUS user:g 0 0 5 km STORE order:g", action: Drop, reason: ReasonKey},

		// dbs
		{name: "select mapped", opt: dbs, cmd: "SELECT 3", action: Rewrite, want: "SELECT 0"},
		{name: "select left out", opt: dbs, cmd: "SELECT 5", action: Drop, reason: ReasonDB},
		{name: "command in a db left out", opt: dbs, db: 5, cmd: "SET a b", action: Drop, reason: ReasonDB},
		{name: "unknown command in a db left out", opt: dbs, db: 5, cmd: "JSON.SET a $ 1", action: Drop, reason: ReasonDB},
		{name: "command in a taken db", opt: dbs, db: 3, cmd: "SET a b", action: Keep},
		{name: "flushdb in a db left out", opt: dbs, db: 5, cmd: "FLUSHDB", action: Drop, reason: ReasonDB},
		{name: "flushdb in a taken db", opt: dbs, db: 0, cmd: "FLUSHDB ASYNC", action: Keep},
		{name: "flushall narrowed", opt: dbs, db: 3, cmd: "FLUSHALL ASYNC", action: Rewrite, reason: ReasonDB,
			want: "SELECT 1 | FLUSHDB ASYNC | SELECT 0 | FLUSHDB ASYNC | SELECT 0"},
		{name: "flushall from a db left out", opt: dbs, db: 7, cmd: "FLUSHALL", action: Rewrite, reason: ReasonDB,
			want: "SELECT 1 | FLUSHDB | SELECT 0 | FLUSHDB"},
		{name: "flushall with only a map", opt: FilterOptions{DBMap: map[int]int{0: 1, 1: 0}}, cmd: "FLUSHALL", action: Keep},
		{name: "swapdb mapped", opt: dbs, cmd: "SWAPDB 0 3", action: Rewrite, want: "SWAPDB 1 0"},
		{name: "swapdb across", opt: dbs, cmd: "SWAPDB 0 5", err: true},
		{name: "swapdb across skipped", opt: FilterOptions{DBs: []int{0}, SkipConflicts: true}, cmd: "SWAPDB 0 5", action: Drop, reason: ReasonConflict},
		{name: "swapdb outside", opt: dbs, cmd: "SWAPDB 4 5", action: Drop, reason: ReasonDB},
		{name: "move mapped", opt: dbs, db: 0, cmd: "MOVE k 3", action: Rewrite, want: "MOVE k 0"},
		{name: "move out", opt: dbs, db: 0, cmd: "MOVE k 5", action: Rewrite, reason: ReasonDB, want: "DEL k"},
		{name: "move in", opt: dbs, db: 5, cmd: "MOVE k 0", err: true},
		{name: "move outside", opt: dbs, db: 5, cmd: "MOVE k 6", action: Drop, reason: ReasonDB},
		{name: "copy db mapped", opt: dbs, db: 3, cmd: "COPY a b DB 0 REPLACE", action: Rewrite, want: "COPY a b DB 1 REPLACE"},
		{name: "copy out", opt: dbs, db: 3, cmd: "COPY a b DB 5", action: Drop, reason: ReasonDB},
		{name: "copy in", opt: dbs, db: 5, cmd: "COPY a b DB 3", err: true},
		{name: "copy same db", opt: dbs, db: 3, cmd: "COPY a b", action: Keep},
		{name: "eval with db rules", opt: dbs, cmd: "EVAL return 1 0", err: true},
		{name: "global command in a db left out", opt: dbs, db: 5, cmd: "FUNCTION FLUSH", action: Keep},

		// types
		{name: "hash dropped", opt: types, cmd: "HSET h f v", action: Drop, reason: ReasonType},
		{name: "set dropped", opt: types, cmd: "SADD s m", action: Drop, reason: ReasonType},
		{name: "string kept", opt: types, cmd: "SET k v", action: Keep},
		{name: "typeless passes", opt: types, cmd: "EXPIRE h 10", action: Keep},
		{name: "overwrite of a dropped type deletes", opt: FilterOptions{TypesDrop: []string{"string"}}, cmd: "MSET a 1 b 2", action: Rewrite, reason: ReasonType, want: "DEL a b"},
		{name: "store of a dropped type deletes", opt: types, cmd: "SINTERSTORE d a b", action: Rewrite, reason: ReasonType, want: "DEL d"},
		{name: "zunionstore may read a dropped set", opt: types, cmd: "ZUNIONSTORE d 2 a b", err: true},
		{name: "smove of a dropped type", opt: types, cmd: "SMOVE a b m", action: Drop, reason: ReasonType},
		{name: "rename with types dropped", opt: types, cmd: "RENAME a b", action: Rewrite, want: "EVAL " + renameScript + " 2 a b rename"},
		{name: "restore of a dropped hash", opt: types, args: [][]byte{[]byte("RESTORE"), []byte("k"), []byte("0"), []byte(hashPayload)}, action: Drop, reason: ReasonType},
		{name: "restore replace of a dropped hash", opt: types, args: [][]byte{[]byte("RESTORE"), []byte("k"), []byte("0"), []byte(hashPayload), []byte("REPLACE")}, action: Rewrite, reason: ReasonType, want: "DEL k"},
		{name: "restore of a kept string", opt: types, args: [][]byte{[]byte("RESTORE"), []byte("k"), []byte("0"), []byte(strPayload)}, action: Keep},

		// commands
		{name: "command dropped", opt: FilterOptions{CommandsDrop: []string{"PUBLISH", "xtrim"}}, cmd: "publish c m", action: Drop, reason: ReasonCommand},
		{name: "command dropped any case", opt: FilterOptions{CommandsDrop: []string{"xtrim"}}, cmd: "XTRIM s MAXLEN 5", action: Drop, reason: ReasonCommand},
		{name: "other command", opt: FilterOptions{CommandsDrop: []string{"xtrim"}}, cmd: "XADD s * a b", action: Keep},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustFilter(t, tt.opt)
			args := tt.args
			if args == nil {
				args = cmd(tt.cmd)
			}
			got, err := f.Command(tt.db, args)
			if tt.err {
				if !errors.Is(err, ErrFilterConflict) || !strings.Contains(err.Error(), "on-filter-conflict") {
					t.Fatalf("got %+v, %v; want an error wrapping ErrFilterConflict that names on-filter-conflict", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Action != tt.action || got.Reason != tt.reason || show(got.Commands) != tt.want {
				t.Fatalf("got action %d reason %q commands %q; want %d %q %q", got.Action, got.Reason, show(got.Commands), tt.action, tt.reason, tt.want)
			}
			if got.Reason == ReasonConflict && got.Conflict == "" {
				t.Error("a skipped conflict does not say what it was")
			}
		})
	}
}

func TestFilterKey(t *testing.T) {
	f := mustFilter(t, FilterOptions{DBs: []int{0, 2}, KeysAllow: []string{"glob:user:[0-9]*", `glob:a\*b`, "glob:[^x]y?"}, KeysDeny: []string{"regex:9$"},
		TypesDrop: []string{"stream", "module"}})
	tests := []struct {
		db     int
		key    string
		typ    string
		keep   bool
		reason string
	}{
		{0, "user:1", "string", true, ""},
		{0, "user:x", "string", false, ReasonKey},
		{0, "user:19", "hash", false, ReasonKey},
		{2, "a*b", "list", true, ""},
		{2, "aXb", "list", false, ReasonKey},
		{2, "ay\n", "list", true, ""}, // ? matches a newline too, as in Redis
		{2, "xyz", "list", false, ReasonKey},
		{1, "user:1", "string", false, ReasonDB},
		{0, "user:1", "stream", false, ReasonType},
		{0, "user:1", "ReJSON-RL", false, ReasonType}, // a module type
		{0, "user:1", "", true, ""},
	}
	for _, tt := range tests {
		keep, reason := f.Key(tt.db, []byte(tt.key), tt.typ)
		if keep != tt.keep || reason != tt.reason {
			t.Errorf("Key(%d, %q, %q) = %v %q, want %v %q", tt.db, tt.key, tt.typ, keep, reason, tt.keep, tt.reason)
		}
	}
	var none *Filter
	if keep, _ := none.Key(9, []byte("x"), "hash"); !keep {
		t.Error("a nil filter left a key out")
	}
}

func TestNewFilterRefuses(t *testing.T) {
	tests := []struct {
		opt  FilterOptions
		want string
	}{
		{FilterOptions{KeysAllow: []string{"user:*"}}, `"prefix:<text>", "glob:<pattern>" or "regex:<expression>"`},
		{FilterOptions{KeysDeny: []string{"regex:("}}, "filter-keys-deny"},
		{FilterOptions{KeysAllow: []string{"glob:[ab"}}, "not closed"},
		{FilterOptions{TypesDrop: []string{"hashes"}}, "not one of string, list"},
		{FilterOptions{CommandsDrop: []string{"select"}}, "SELECT cannot be dropped"},
		{FilterOptions{DBMap: map[int]int{0: 1}}, "db 0 goes to db 1, which db 1 keeps too"},
		{FilterOptions{DBMap: map[int]int{0: 2, 1: 2}}, "both go to db 2"},
	}
	for _, tt := range tests {
		_, err := NewFilter(tt.opt)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewFilter(%+v) = %v, want an error with %q", tt.opt, err, tt.want)
		}
	}
	// A map into a db left out is fine; filtering nothing gives nil.
	if _, err := NewFilter(FilterOptions{DBs: []int{0}, DBMap: map[int]int{0: 1}}); err != nil {
		t.Errorf("db 0 → 1 with only db 0 taken: %v", err)
	}
	if f, err := NewFilter(FilterOptions{}); f != nil || err != nil {
		t.Errorf("NewFilter of nothing = %v, %v; want nil, nil", f, err)
	}
}

func TestParseDBMap(t *testing.T) {
	m, err := ParseDBMap(" 0:1, 3:0 ")
	if err != nil || len(m) != 2 || m[0] != 1 || m[3] != 0 {
		t.Fatalf("ParseDBMap = %v, %v", m, err)
	}
	for _, bad := range []string{"0", "a:1", "0:-1", "0:1,0:2"} {
		if _, err := ParseDBMap(bad); err == nil {
			t.Errorf("ParseDBMap(%q) accepted it", bad)
		}
	}
}

func TestFilterSourceDB(t *testing.T) {
	f := mustFilter(t, FilterOptions{DBs: []int{0, 3, 4}, DBMap: map[int]int{0: 1, 3: 0}})
	for _, tt := range []struct {
		target, source int
		ok             bool
	}{{1, 0, true}, {0, 3, true}, {4, 4, true}, {3, 0, false}, {2, 0, false}} {
		s, ok := f.SourceDB(tt.target)
		if ok != tt.ok || ok && s != tt.source {
			t.Errorf("SourceDB(%d) = %d, %v; want %d, %v", tt.target, s, ok, tt.source, tt.ok)
		}
	}
}
