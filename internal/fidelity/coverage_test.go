package fidelity

import (
	"strings"
	"testing"
)

func TestUncovered(t *testing.T) {
	corpus := []Entry{
		{Name: "set.nx", Command: "set", Run: []Cmd{{"SET", "{k}a", "v", "NX"}}},
		{Name: "xgroup.create", Command: "xgroup|create", Run: []Cmd{{"XGROUP", "CREATE", "{k}a", "g", "$", "MKSTREAM"}}},
		{Name: "admin.migrate", Command: "migrate", NotReplayed: "needs a second server"},
	}
	tests := []struct {
		name string
		wc   WriteCommands
		want []string // substrings, one per reported gap
	}{
		{"all covered", WriteCommands{"set": {"NX"}, "xgroup|create": {"MKSTREAM"}}, nil},
		{"a container covered by its subcommands (Redis 6)", WriteCommands{"xgroup": nil}, nil},
		{"not replayed: options need no entries", WriteCommands{"migrate": {"COPY", "KEYS"}}, nil},
		{"a token exempt with a reason", WriteCommands{"georadius": {"WITHDIST"}}, []string{`"georadius" has no corpus entry`}},
		{"a missing command", WriteCommands{"set": nil, "lmove": nil}, []string{`"lmove" has no corpus entry`}},
		{"a missing token", WriteCommands{"set": {"NX", "XX"}}, []string{`option XX of "set"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Uncovered(corpus, "server", tc.wc)
			if len(got) != len(tc.want) {
				t.Fatalf("got %q, want %d gaps like %q", got, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("gap %d: %q lacks %q", i, got[i], w)
				}
			}
		})
	}
}
