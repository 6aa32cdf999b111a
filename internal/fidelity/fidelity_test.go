package fidelity

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/redferry/redferry/internal/redistest"
)

// subsetPairs is the representative subset `make test` runs: a ring in
// which every version is a source once and a target once (so every entry
// meets a source that accepts it), with upgrades, downgrades and both
// directions between Redis and Valkey.
func subsetPairs() []Pair {
	return []Pair{
		{redistest.Redis60, redistest.Redis86},
		{redistest.Redis86, redistest.Valkey91},
		{redistest.Valkey91, redistest.Redis70},
		{redistest.Redis70, redistest.Redis80},
		{redistest.Redis80, redistest.Valkey81},
		{redistest.Valkey81, redistest.Redis806},
		{redistest.Redis806, redistest.Redis60},
	}
}

// allPairs is every ordered pair of supported versions.
func allPairs() []Pair {
	var out []Pair
	for _, s := range redistest.All {
		for _, t := range redistest.All {
			out = append(out, Pair{s, t})
		}
	}
	return out
}

// TestFidelity plays the corpus through version pairs and reports the
// outcomes (REDFERRY_FIDELITY_REPORT names a file for the markdown
// report). By default it runs subsetPairs and allows the knownGaps;
// REDFERRY_FIDELITY=all runs every pair, and REDFERRY_FIDELITY=src>dst,…
// the pairs named (redistest names), allowing no failure.
func TestFidelity(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three servers and redferry per pair")
	}
	pairs, strict := subsetPairs(), false
	switch mode := os.Getenv("REDFERRY_FIDELITY"); {
	case mode == "" || mode == "subset":
	case mode == "all":
		pairs, strict = allPairs(), true
	case strings.Contains(mode, ">"):
		pairs, strict = nil, true
		for _, p := range strings.Split(mode, ",") {
			src, dst, _ := strings.Cut(p, ">")
			pairs = append(pairs, Pair{strings.TrimSpace(src), strings.TrimSpace(dst)})
		}
	default:
		t.Fatalf("REDFERRY_FIDELITY=%q: want subset (the default), all, or pairs like redis-7.0>valkey-9.1,redis-8.6>redis-6.0", mode)
	}
	bin, err := BuildRedferry(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	corpus := Corpus()
	if pattern := os.Getenv("REDFERRY_FIDELITY_ENTRIES"); pattern != "" {
		re, err := regexp.Compile(pattern)
		if err != nil {
			t.Fatalf("REDFERRY_FIDELITY_ENTRIES: %v", err)
		}
		corpus = slices.DeleteFunc(corpus, func(e Entry) bool { return !re.MatchString(e.Name) })
	}
	perPair := make([][]Result, len(pairs))
	t.Run("pairs", func(t *testing.T) {
		for i, p := range pairs {
			t.Run(p.Source+"_to_"+p.Target, func(t *testing.T) {
				t.Parallel()
				perPair[i] = RunPair(t, p, RunOptions{Binary: bin, Corpus: corpus, SnapshotKeys: 64})
			})
		}
	})
	var all []Result
	for _, res := range perPair {
		all = append(all, res...)
	}
	// A stop counts as a failure where the target's version ran the entry
	// as a source: that needs every pair's results.
	Reclassify(all)
	for i, p := range pairs {
		res := all[:len(perPair[i])]
		all = all[len(perPair[i]):]
		perPair[i] = res
		if strict {
			for _, r := range res {
				if r.Outcome.Failure() {
					t.Errorf("%s: %s: %s: %s", p, r.Entry, r.Outcome, oneLine(r.Detail, 300))
				}
			}
		} else {
			checkKnownGaps(t, p, res, knownGaps())
		}
	}
	all = slices.Concat(perPair...)
	report := Report(all)
	t.Log("\n" + report)
	if path := os.Getenv("REDFERRY_FIDELITY_REPORT"); path != "" {
		if err := os.WriteFile(path, []byte(report), 0o644); err != nil {
			t.Errorf("writing the report: %v", err)
		}
	}
	if !slices.ContainsFunc(perPair, func(r []Result) bool { return r == nil }) {
		checkEveryEntryPlayed(t, corpus, all)
	}
}

// checkKnownGaps fails for a failure that is not a known gap of the pair,
// and for a known gap of the pair that no longer fails.
func checkKnownGaps(t *testing.T, p Pair, results []Result, gaps []knownGap) {
	t.Helper()
	for _, problem := range knownGapProblems(p, results, gaps) {
		t.Error(problem)
	}
}

func knownGapProblems(p Pair, results []Result, gaps []knownGap) []string {
	known := map[string]bool{}
	for _, g := range gaps {
		for _, gp := range g.Pairs {
			if gp == p.String() {
				known[g.Entry] = true
			}
		}
	}
	var out []string
	for _, r := range results {
		switch {
		case r.Outcome.Failure() && !known[r.Entry]:
			out = append(out, fmt.Sprintf("%s: %s on %s (not a known gap): %s", r.Entry, r.Outcome, p, oneLine(r.Detail, 300)))
		case !r.Outcome.Failure() && known[r.Entry]:
			out = append(out, fmt.Sprintf("%s: known gap on %s now %s: remove it from knownGaps", r.Entry, p, r.Outcome))
		}
		delete(known, r.Entry)
	}
	for e := range known {
		out = append(out, fmt.Sprintf("known gap %q on %s: no such entry in the corpus: remove it from knownGaps", e, p))
	}
	sort.Strings(out)
	return out
}

func TestKnownGapProblems(t *testing.T) {
	p := Pair{"redis-6.0", "redis-8.6"}
	gaps := []knownGap{{Entry: "xclaim.deleted", Pairs: []string{"redis-6.0→redis-8.6"}}, {Entry: "gone", Pairs: []string{"redis-6.0→redis-8.6"}}}
	results := []Result{
		{Entry: "xclaim.deleted", Outcome: Differs},
		{Entry: "set", Outcome: Differs},
		{Entry: "lmove", Outcome: Stopped},
	}
	got := knownGapProblems(p, results, gaps)
	want := []string{`known gap "gone"`, "set: differs on redis-6.0→redis-8.6 (not a known gap)"}
	if len(got) != len(want) {
		t.Fatalf("got %q, want %d problems like %q", got, len(want), want)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("problem %d: %q, want it to start with %q", i, got[i], want[i])
		}
	}
	results[0].Outcome = Equal
	if got := knownGapProblems(p, results[:1], gaps[:1]); len(got) != 1 || !strings.Contains(got[0], "now equal: remove it") {
		t.Errorf("a fixed gap: got %q", got)
	}
}

// checkEveryEntryPlayed fails for an entry that no source of the run
// accepted: it was never exercised (a mistake in the entry, or a subset
// that misses the versions it needs).
func checkEveryEntryPlayed(t *testing.T, corpus []Entry, results []Result) {
	t.Helper()
	played := map[string]bool{}
	for _, r := range results {
		if r.Outcome != NotApplicable && r.Outcome != NotReplayed {
			played[r.Entry] = true
		}
	}
	var never []string
	for _, e := range corpus {
		if e.NotReplayed == "" && !played[e.Name] {
			never = append(never, e.Name)
		}
	}
	if len(never) > 0 {
		t.Errorf("%d entries were accepted by no source of the run: %s", len(never), strings.Join(never, ", "))
	}
}
