package transform

import (
	"strconv"
	"strings"

	"github.com/redferry/redferry/pkg/server"
)

// translation is one row of the translation table: a command, or one form
// of it, as some sources propagate it; the targets that take it as it is;
// and the rewrite for the others. The rows of one command are tried in
// order: the first whose form the command has and the target does not take
// rewrites it, and may go on with the later rows (Translator.again), so that
// rewrites compose.
//
// What each source propagates was captured from the servers themselves
// (a replica link on Redis 6.0.16, 7.0.15, 8.0.2, 8.0.6, 8.6.3, Valkey 8.1.1,
// 9.1.2), and what each target accepts was tried on it; the tests in
// translate_servers_test.go check the rows on the real servers (the few
// forms no source propagates, such as GETDEL, by translate_test.go alone).
type translation struct {
	command string // lower case
	form    string // the propagated form this row handles ("…": the rest)
	from    string // the sources that propagate it
	takes   string // the targets that take it as it is
	into    string // what the other targets get

	match   func(args [][]byte) bool      // nil: every form of the command
	when    func(source server.Info) bool // nil: whatever the source
	accepts func(target server.Info) bool // nil: no target (always rewritten)
	rewrite func(t *Translator, c *call) error
}

// Documented sets of servers.
const (
	fromAll = "all"
	none    = "none"
)

// translationTable is the table, in the order the rows are tried.
func translationTable() []translation {
	var rows []translation
	for _, group := range [][]translation{
		controlRows(),
		stringRows(),
		keyRows(),
		listRows(),
		zsetRows(),
		copyGeoRows(),
		bitopVectorRows(),
		streamRows(),
		streamRefRows(),
		hashRows(),
		functionRows(),
		restoreRows(),
	} {
		rows = append(rows, group...)
	}
	return rows
}

// controlRows: what a replica link carries besides writes.
func controlRows() []translation {
	drop := func(t *Translator, c *call) error { return nil }
	var rows []translation
	for _, name := range []string{"ping", "replconf", "multi", "exec"} {
		rows = append(rows, translation{command: name, form: upper(name) + " …", from: fromAll, takes: none,
			into: "dropped (every batch is one MULTI; a source transaction stays within one batch)", rewrite: drop})
	}
	for _, name := range []string{"publish", "spublish"} {
		rows = append(rows, translation{command: name, form: upper(name) + " ch msg", from: fromAll, takes: none,
			into: "dropped unless replay-publish",
			rewrite: func(t *Translator, c *call) error {
				if t.opt.ReplayPublish {
					return t.pass(c)
				}
				return nil
			}})
	}
	return rows
}

func upper(name string) string { return strings.ToUpper(name) }

func itoa(n int) []byte { return strconv.AppendInt(nil, int64(n), 10) }
