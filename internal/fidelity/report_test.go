package fidelity

import (
	"strings"
	"testing"
)

func TestNamesCommand(t *testing.T) {
	commands := map[string]bool{"HSETEX": true, "FUNCTION": true, "PSYNC": true, "SET": true}
	tests := []struct {
		msg  string
		want bool
	}{
		{`target rejected HSETEX key "k" at source offset 10: ERR unknown command`, true},
		{"stream offset 5: FUNCTION (functions) on redis 6.0.16 at source offset 5: not supported by the target", true},
		{"PSYNC refused: ERR something", false},
		{"reading the spooled stream at offset 7: unexpected EOF", false},
		{"target rejected set key", false}, // lower case is not a command name
	}
	for _, tc := range tests {
		if got := namesCommand(tc.msg, commands); got != tc.want {
			t.Errorf("namesCommand(%q) = %v, want %v", tc.msg, got, tc.want)
		}
	}
}

func TestEntryAtOffset(t *testing.T) {
	r := &pairRun{spans: []span{{"a", 100, 200}, {"b", 210, 300}, {"c", 300, 400}}}
	tests := []struct {
		msg, want string
	}{
		{"target rejected XADD key \"b:a\" at source offset 300: ERR", "b"},
		{"applying a batch (checkpoint offset 250): target rejected X at source offset 301: ERR", "c"},
		{"stream offset 150: HPEXPIREAT (hash field TTL) on redis 7.0.15", "a"},
		{"at source offset 205: between entries", ""},
		{"no offset here", ""},
	}
	for _, tc := range tests {
		if got := r.entryAt(tc.msg); got != tc.want {
			t.Errorf("entryAt(%q) = %q, want %q", tc.msg, got, tc.want)
		}
	}
}

func TestReport(t *testing.T) {
	results := []Result{
		{Entry: "set", Source: "redis-7.0.15", Target: "redis-6.0.16", Outcome: Equal},
		{Entry: "lmove", Source: "redis-7.0.15", Target: "redis-6.0.16", Outcome: Stopped, Detail: "target rejected LMOVE"},
		{Entry: "xclaim", Source: "redis-7.0.15", Target: "redis-6.0.16", Outcome: Differs, Detail: "pending 3 in source, 2 in target"},
		{Entry: "set", Source: "redis-6.0.16", Target: "redis-7.0.15", Outcome: Equal},
		{Entry: "lmove", Source: "redis-6.0.16", Target: "redis-7.0.15", Outcome: NotApplicable, Detail: "ERR unknown command"},
		{Entry: "xclaim", Source: "redis-6.0.16", Target: "redis-7.0.15", Outcome: Stopped, Detail: "target rejected XCLAIM"},
	}
	// xclaim stops into 7.0, which runs it as a source: a stop translation
	// could avoid. lmove stops into 6.0, which refuses it as a source.
	Reclassify(results)
	if results[5].Outcome != StoppedAvoidable || results[1].Outcome != Stopped {
		t.Errorf("Reclassify: xclaim into 7.0 %s, lmove into 6.0 %s; want stopped-avoidable, stopped", results[5].Outcome, results[1].Outcome)
	}
	rep := Report(results)
	for _, want := range []string{
		"| redis-7.0.15 → redis-6.0.16 | 1 | 1 | 0 | 1 | 0 | 0 | 0 | 0 | 0 |",
		"| redis-6.0.16 → redis-7.0.15 | 1 | 0 | 1 | 0 | 0 | 0 | 0 | 1 | 0 |",
		"| xclaim | redis-7.0.15 → redis-6.0.16 | differs | pending 3 in source, 2 in target |",
		"| lmove | r7.0.15 | r6.0.16 | ERR unknown command |",
	} {
		if !strings.Contains(rep, want) {
			t.Errorf("the report lacks %q:\n%s", want, rep)
		}
	}
	failures := section(rep, "## Failures by entry")
	if !strings.Contains(failures, "| xclaim |") || strings.Contains(failures, "| lmove |") {
		t.Errorf("failures wrong:\n%s", failures)
	}
}

// section is the text of a report section, up to the next heading.
func section(rep, heading string) string {
	i := strings.Index(rep, heading)
	if i < 0 {
		return ""
	}
	rest := rep[i+len(heading):]
	if j := strings.Index(rest, "\n## "); j >= 0 {
		rest = rest[:j]
	}
	return rest
}
