package fidelity

import (
	"regexp"
	"strings"
)

// Outcome is how one entry fared through one source → target pair.
type Outcome string

// Outcomes. Equal, Stopped, Server, NotApplicable and NotReplayed are
// acceptable; the others are failures.
const (
	// Equal: the target holds what the source holds.
	Equal Outcome = "equal"
	// Stopped: redferry exited with an error that names the command: the
	// user learns what the target cannot take, nothing is silently lost.
	Stopped Outcome = "stopped"
	// StoppedAvoidable: a clear stop into a target whose own version runs
	// the entry when it is the source: the target can hold the result, so
	// a translation must carry it. Set by Reclassify, which sees every pair.
	StoppedAvoidable Outcome = "stopped-avoidable"
	// StoppedUnclear: redferry exited, or stopped applying, without naming
	// a command.
	StoppedUnclear Outcome = "stopped-unclear"
	// Differs: the target differs from the source after the entry.
	Differs Outcome = "differs"
	// Server: the target differs, and so does the source's own native
	// replica (the control): the server's replication does not carry it
	// either.
	Server Outcome = "server"
	// NotApplicable: the source refused the entry (its version lacks the
	// command or option).
	NotApplicable Outcome = "n/a"
	// NotReplayed: the entry is no data write (Entry.NotReplayed).
	NotReplayed Outcome = "not-replayed"
	// NotRun: an earlier failure (redferry could not start again) left the
	// entry unplayed.
	NotRun Outcome = "not-run"
)

// Failure reports whether the outcome breaks the promise that every write
// arrives exactly or stops the sync clearly.
func (o Outcome) Failure() bool {
	return o == StoppedAvoidable || o == StoppedUnclear || o == Differs || o == NotRun
}

// Reclassify marks as StoppedAvoidable every clear stop into a target
// version that ran the same entry as a source in these results. A target
// version that was no source here keeps its stops as they are.
func Reclassify(results []Result) {
	accepted := acceptedBy(results)
	for i, r := range results {
		if r.Outcome == Stopped && accepted[r.Entry][r.Target] {
			results[i].Outcome = StoppedAvoidable
		}
	}
}

// Result is one entry through one pair.
type Result struct {
	Entry          string
	Source, Target string // server names, e.g. "redis-8.6.3"
	Outcome        Outcome
	// Detail is redferry's error (stopped), the differences (differs,
	// server), or the source's refusal (n/a).
	Detail string
}

// Pair names a source → target pair of redistest server names.
type Pair struct{ Source, Target string }

func (p Pair) String() string { return p.Source + "→" + p.Target }

// protocolWords are command names that an error may mention without
// naming the command that stopped the sync.
var protocolWords = map[string]bool{
	"PSYNC": true, "SYNC": true, "REPLCONF": true, "AUTH": true, "PING": true, "INFO": true,
	"HELLO": true, "CLIENT": true, "ERR": true,
}

var upperWord = regexp.MustCompile(`\b[A-Z][A-Z0-9_-]+\b`)

// namesCommand reports whether msg names one of commands (upper case),
// as "target rejected HSETEX …" or "FUNCTION (functions) on redis 6.0 …"
// do.
func namesCommand(msg string, commands map[string]bool) bool {
	for _, w := range upperWord.FindAllString(msg, -1) {
		if commands[w] && !protocolWords[w] {
			return true
		}
	}
	return false
}

// oneLine shortens text for a table cell.
func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	s = strings.ReplaceAll(s, "|", "\\|")
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}
