package scripts

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestFuzzOneRetriesOnlyTheCoordinatorRace runs fuzz-one.sh with a stand-in
// for `go` that answers each run with the next of a list of outcomes: only a
// bare deadline failure with no input written is run again, once.
func TestFuzzOneRetriesOnlyTheCoordinatorRace(t *testing.T) {
	const (
		pass     = "0|fuzz: elapsed: 15s, execs: 1000 (66/sec)\nPASS"
		deadline = "1|--- FAIL: FuzzX (15.11s)\n    context deadline exceeded\nFAIL"
		finding  = "1|--- FAIL: FuzzX (3.2s)\n    context deadline exceeded\n    Failing input written to testdata/fuzz/FuzzX/abc\nFAIL"
		crash    = "1|--- FAIL: FuzzX (1.0s)\n    panic: index out of range\nFAIL"
	)
	for _, tc := range []struct {
		name     string
		outcomes []string
		wantOK   bool
		wantRuns int
	}{
		{"passes", []string{pass}, true, 1},
		{"deadline race, then passes", []string{deadline, pass}, true, 2},
		{"deadline race twice", []string{deadline, deadline, pass}, false, 2},
		{"a finding at the deadline", []string{finding, pass}, false, 1},
		{"a crash", []string{crash, pass}, false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for i, o := range tc.outcomes {
				code, text, _ := strings.Cut(o, "|")
				script := fmt.Sprintf("#!/bin/sh\nprintf '%%s\\n' %q\nexit %s\n", text, code)
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("run%d", i+1)), []byte(script), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			fakeGo := filepath.Join(dir, "go")
			counter := filepath.Join(dir, "runs")
			stub := fmt.Sprintf("#!/bin/sh\nn=$(( $(cat %[1]s 2>/dev/null || echo 0) + 1 ))\necho $n > %[1]s\nexec %[2]s/run$n\n", counter, dir)
			if err := os.WriteFile(fakeGo, []byte(stub), 0o755); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("sh", "fuzz-one.sh", "example.com/pkg", "FuzzX", "15s")
			cmd.Env = append(os.Environ(), "GO="+fakeGo)
			out, err := cmd.CombinedOutput()
			if ok := err == nil; ok != tc.wantOK {
				t.Errorf("fuzz-one.sh succeeded = %v, want %v; output:\n%s", ok, tc.wantOK, out)
			}
			runs, _ := os.ReadFile(counter)
			if got := strings.TrimSpace(string(runs)); got != fmt.Sprint(tc.wantRuns) {
				t.Errorf("go test ran %s times, want %d; output:\n%s", got, tc.wantRuns, out)
			}
		})
	}
}
