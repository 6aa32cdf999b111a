package fidelity

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// matrixColumns are the outcomes counted per pair, in table order.
var matrixColumns = []Outcome{Equal, Stopped, StoppedAvoidable, Differs, StoppedUnclear, NotRun, Server, NotApplicable, NotReplayed}

// Report renders results as markdown: the pair × outcome matrix, the
// failures one by one and by entry, the clear stops and server-behaviour
// cases by entry (what translation could still carry), and which sources
// refuse which entries.
func Report(results []Result) string {
	var b strings.Builder
	pairs := pairOrder(results)
	counts := map[string]map[Outcome]int{}
	total := map[Outcome]int{}
	for _, r := range results {
		k := r.Source + " → " + r.Target
		if counts[k] == nil {
			counts[k] = map[Outcome]int{}
		}
		counts[k][r.Outcome]++
		total[r.Outcome]++
	}

	fmt.Fprintf(&b, "# Write-command fidelity: %d pairs, %d results\n\n", len(pairs), len(results))
	played := 0
	for _, o := range []Outcome{Equal, Stopped, StoppedAvoidable, Differs, StoppedUnclear, NotRun, Server} {
		played += total[o]
	}
	failures := total[StoppedAvoidable] + total[Differs] + total[StoppedUnclear] + total[NotRun]
	if played > 0 {
		fmt.Fprintf(&b, "Of %d (entry, pair) cases the source accepted: %d equal (%.1f %%), %d stopped clearly (%.1f %%), "+
			"%d failures (%.1f %%: avoidable stop, differs, unclear stop, not run), %d server behaviour (%.1f %%).\n\n",
			played, total[Equal], pct(total[Equal], played), total[Stopped], pct(total[Stopped], played),
			failures, pct(failures, played), total[Server], pct(total[Server], played))
	}

	b.WriteString("## Matrix\n\n| source → target |")
	for _, o := range matrixColumns {
		fmt.Fprintf(&b, " %s |", o)
	}
	b.WriteString("\n|---|")
	for range matrixColumns {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
	for _, p := range pairs {
		fmt.Fprintf(&b, "| %s |", p)
		for _, o := range matrixColumns {
			fmt.Fprintf(&b, " %d |", counts[p][o])
		}
		b.WriteString("\n")
	}
	b.WriteString("| **all** |")
	for _, o := range matrixColumns {
		fmt.Fprintf(&b, " **%d** |", total[o])
	}
	b.WriteString("\n\n")

	writeByEntry(&b, "Failures by entry", "Entries that differ, stop where the target could hold the result (its own version "+
		"runs the entry as a source), stop without naming the command, or were not run, with the pairs where they do.",
		results, func(r Result) bool { return r.Outcome.Failure() })
	writeByEntry(&b, "Stopped clearly, by entry", "Entries that stop the sync with an error naming the command where the "+
		"target's version does not run them (acceptable: the target cannot hold the result).",
		results, func(r Result) bool { return r.Outcome == Stopped })
	writeByEntry(&b, "Server behaviour, by entry", "Entries whose target differs and whose native replica differs too.",
		results, func(r Result) bool { return r.Outcome == Server })

	b.WriteString("## Failures\n\n| entry | pair | outcome | detail |\n|---|---|---|---|\n")
	for _, r := range results {
		if r.Outcome.Failure() {
			fmt.Fprintf(&b, "| %s | %s → %s | %s | %s |\n", r.Entry, r.Source, r.Target, r.Outcome, oneLine(r.Detail, 400))
		}
	}
	b.WriteString("\n")

	writeRefusals(&b, results)
	return b.String()
}

func pct(n, of int) float64 { return 100 * float64(n) / float64(of) }

func pairOrder(results []Result) []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range results {
		k := r.Source + " → " + r.Target
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// acceptedBy is, per entry, the servers that accepted it as a source.
func acceptedBy(results []Result) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for _, r := range results {
		if r.Outcome == NotApplicable || r.Outcome == NotReplayed {
			continue
		}
		if out[r.Entry] == nil {
			out[r.Entry] = map[string]bool{}
		}
		out[r.Entry][r.Source] = true
	}
	return out
}

// writeByEntry lists, per entry, the pairs whose result matches, with the
// first detail.
func writeByEntry(b *strings.Builder, title, intro string, results []Result, match func(Result) bool) {
	type group struct {
		pairs  []string
		detail string
		kinds  map[Outcome]int
	}
	groups := map[string]*group{}
	var names []string
	for _, r := range results {
		if !match(r) {
			continue
		}
		g := groups[r.Entry]
		if g == nil {
			g = &group{detail: r.Detail, kinds: map[Outcome]int{}}
			groups[r.Entry] = g
			names = append(names, r.Entry)
		}
		g.pairs = append(g.pairs, shortName(r.Source)+"→"+shortName(r.Target))
		g.kinds[r.Outcome]++
	}
	fmt.Fprintf(b, "## %s (%d entries)\n\n%s\n\n", title, len(names), intro)
	if len(names) == 0 {
		return
	}
	sort.Strings(names)
	b.WriteString("| entry | pairs | outcomes | first detail |\n|---|---|---|---|\n")
	for _, n := range names {
		g := groups[n]
		var kinds []string
		for o, c := range g.kinds {
			kinds = append(kinds, fmt.Sprintf("%s %d", o, c))
		}
		sort.Strings(kinds)
		fmt.Fprintf(b, "| %s | %d: %s | %s | %s |\n", n, len(g.pairs), strings.Join(g.pairs, ", "),
			strings.Join(kinds, ", "), oneLine(g.detail, 300))
	}
	b.WriteString("\n")
}

// writeRefusals lists the entries some source refused, with the sources
// that accept them (as the servers themselves decided).
func writeRefusals(b *strings.Builder, results []Result) {
	accepted := acceptedBy(results)
	refused := map[string]map[string]string{}
	for _, r := range results {
		if r.Outcome == NotApplicable {
			if refused[r.Entry] == nil {
				refused[r.Entry] = map[string]string{}
			}
			refused[r.Entry][r.Source] = r.Detail
		}
	}
	var names []string
	for n := range refused {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(b, "## Sources that refuse an entry (%d entries)\n\n| entry | accepted by | refused by | refusal |\n|---|---|---|---|\n", len(names))
	for _, n := range names {
		var acc, ref []string
		for s := range accepted[n] {
			acc = append(acc, shortName(s))
		}
		var first string
		for s, d := range refused[n] {
			ref = append(ref, shortName(s))
			if first == "" || d < first {
				first = d
			}
		}
		slices.Sort(acc)
		slices.Sort(ref)
		if len(acc) == 0 {
			acc = []string{"**none**"}
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s |\n", n, strings.Join(acc, ", "), strings.Join(ref, ", "), oneLine(first, 160))
	}
	b.WriteString("\n")
}

// shortName abbreviates a server name for lists: redis-8.6.3 → r8.6.3,
// valkey-9.1.2 → v9.1.2.
func shortName(s string) string {
	if v, ok := strings.CutPrefix(s, "redis-"); ok {
		return "r" + v
	}
	if v, ok := strings.CutPrefix(s, "valkey-"); ok {
		return "v" + v
	}
	return s
}
