// Package fidelity measures whether every write command of every supported
// server version arrives exactly in every supported target through
// `redferry sync`.
//
// The corpus (Corpus) holds one Entry per command and option form that
// changes what a source propagates: its setup, the command itself, and the
// keys it touches, all named after the entry so that a difference found in
// the target can be traced to it. TestCorpusCoversEveryWriteCommand fails
// when a server declares a write command (COMMAND) or an option token of one
// (COMMAND DOCS) that no entry exercises.
//
// RunPair (runner.go) runs the corpus through one source → target pair:
// redferry replays the source's stream into the target while a native
// replica of the source is the control, and each entry ends in an Outcome.
// Report (report.go) turns the outcomes of many pairs into a markdown
// matrix and failure list.
package fidelity

import (
	"slices"
	"strings"
)

// Cmd is one command with its arguments. Arguments may hold placeholders,
// resolved on the source right before the command runs:
//
//	{k}            the entry's key prefix, Name + ":" (anywhere in an argument)
//	{lib}          the entry's function library name (anywhere in an argument)
//	{unix+N}       the Unix time in seconds plus N (N may be negative)
//	{unixms+N}     the Unix time in milliseconds plus N
//	{dump:KEY}     the DUMP payload of KEY, taken on the source
//	{digest:KEY}   the DIGEST of KEY (Redis 8.4+), taken on the source
//	{functiondump} the FUNCTION DUMP payload of the source: the one an
//	               "@functiondump" command saved earlier in the entry, or
//	               else one taken now
//	{sha1:TEXT}    the SHA1 of TEXT, in hex (EVALSHA)
//	{fp32:A,B,…}   the little-endian float32 bytes of the numbers (VADD FP32)
//
// Commands whose name starts with "@" run on the runner's side: "@sleep MS"
// waits (for an expiry to pass), "@functiondump" saves the source's
// FUNCTION DUMP for a later {functiondump}.
type Cmd []string

// Entry is one corpus case: a command in one option form.
type Entry struct {
	// Name is unique, made of [a-z0-9.-]; the entry's keys start with
	// Name + ":" (the {k} placeholder).
	Name string
	// Command is the command it covers, lower case, with a subcommand as
	// container|sub ("xgroup|create"), as COMMAND names it.
	Command string
	// DB is the database the entry runs in (SELECT before Setup).
	DB int
	// Setup creates the keys the command needs, with the types it needs.
	Setup []Cmd
	// Run is the command under test (more than one for transactions).
	Run []Cmd
	// AllowErrors: a Run command may answer with an error and still
	// propagate the writes made before it (a script that fails halfway, a
	// transaction with a failing command). Otherwise an error means the
	// source does not accept the entry: not applicable there.
	AllowErrors bool
	// Isolated: the entry changes state beyond its own keys (FLUSHALL,
	// FUNCTION FLUSH, FUNCTION RESTORE): it runs alone, after the others,
	// and every new difference is laid at its door.
	Isolated bool
	// NotReplayed, when set, says why the entry is not run: the command is
	// no data write a sync could carry (server administration, cluster
	// only, a second server needed). It still counts as covered.
	NotReplayed string
}

// KeyPrefix is the prefix of every key of the entry.
func (e Entry) KeyPrefix() string { return e.Name + ":" }

// Library is the name of the entry's function library (letters, digits
// and underscores only, as FUNCTION LOAD requires).
func (e Entry) Library() string { return LibraryName(e.Name) }

// LibraryName is the library name of the entry called name.
func LibraryName(name string) string {
	b := []byte("fid_" + name)
	for i, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}

// Corpus returns every entry, in the order the runner plays them.
func Corpus() []Entry {
	var out []Entry
	for _, part := range [][]Entry{
		stringEntries(), bitEntries(), listEntries(), hashEntries(), hashFieldTTLEntries(),
		setEntries(), zsetEntries(), streamEntries(), streamGroupEntries(), keyEntries(),
		restoreEntries(), geoEntries(), hllEntries(), vectorEntries(), scriptEntries(),
		functionEntries(), dbEntries(), notReplayedEntries(),
	} {
		out = append(out, part...)
	}
	return out
}

// forms makes one entry per option form of a command: name.form, with the
// form's arguments appended to run. For families (EXPIRE NX/XX/GT/LT …)
// whose setup is the same.
func forms(name, command string, setup []Cmd, run Cmd, forms map[string][]string) []Entry {
	out := make([]Entry, 0, len(forms))
	for form, extra := range forms {
		r := append(append(Cmd{}, run...), extra...)
		out = append(out, Entry{Name: name + "." + form, Command: command, Setup: setup, Run: []Cmd{r}})
	}
	sortByName(out)
	return out
}

func sortByName(es []Entry) {
	slices.SortFunc(es, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
}
