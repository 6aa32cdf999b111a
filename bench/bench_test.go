package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redferry/redferry/internal/redistest"
)

// TestBench is `make bench`: it runs only with REDFERRY_BENCH=1 (so `make
// unit` skips it). Knobs, all environment variables:
//
//	BENCH_SERVER   server of source and target (default redis-7.0)
//	BENCH_KEYS     small strings of the first dataset (default 1000000)
//	BENCH_MIXED    keys of the mixed dataset (default 20000)
//	BENCH_SCALE    the big-key dataset is 1/BENCH_SCALE of full size (default 16)
//	BENCH_REPS     interleaved runs of each full sync, medians kept (default 3)
//	BENCH_MODES    --replay-mode values measured besides the default, when
//	               the binary has the setting (default commands,restore; - none)
//	BENCH_FLAGS    extra flags for every redferry sync, e.g. "--batch-commands 5000"
//	BENCH_LOG      redferry's log level (default warn; set: print its log)
//	BENCH_CATCHUP  writes taken while redferry is stopped (default 2000000)
//	BENCH_CROSS    source>target pairs of the "cross" section (the mixed
//	               dataset into a target whose RESTORE cannot read the
//	               source's payloads; default redis-7.0>redis-6.0,
//	               valkey-9.1>redis-8.0.2)
//	BENCH_CLUSTER_KEYS     strings of the cluster section's source (default 300000)
//	BENCH_CLUSTER_MASTERS  masters of its source cluster (default 3)
//	BENCH_CLUSTER_TARGETS  its targets: standalone,cluster (default both)
//	BENCH_CLUSTER_RAW      mix commands of its raw-ingest baseline (default 600000)
//	BENCH_ONLY     comma list of sections: strings,mixed,cross,big,catchup,streaming,cluster
//	BENCH_OUT      JSON output (default ../bench-results/latest.json)
func TestBench(t *testing.T) {
	if os.Getenv("REDFERRY_BENCH") != "1" {
		t.Skip("set REDFERRY_BENCH=1 (make bench) to run the benchmark")
	}
	var err error
	if redferryBin, err = buildRedferry(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	b := &bench{t: t, server: envStr("BENCH_SERVER", redistest.Redis70)}
	b.modes = replayModes(helpFlags())
	only := envStr("BENCH_ONLY", "strings,mixed,cross,big,catchup,streaming,cluster")
	b.res.Started = time.Now().UTC().Format(time.RFC3339)
	b.res.Server = b.server
	b.res.Binary = redferryBin
	b.res.CPUs = runtime.NumCPU()
	b.res.BigScale = envInt("BENCH_SCALE", 16)
	b.res.LoadAvg = append(b.res.LoadAvg, loadAvg())
	if strings.Contains(only, "strings") {
		n := envInt("BENCH_KEYS", 1_000_000)
		b.fullSync(fmt.Sprintf("%d strings x 100 B", n), b.server, b.server, 64, func(src *redistest.Server) error {
			return fillWith(src.Addr, n, smallStrings(n, 100))
		})
	}
	if strings.Contains(only, "mixed") {
		n := envInt("BENCH_MIXED", 20_000)
		b.fullSync(fmt.Sprintf("mixed, %d keys, every type", n), b.server, b.server, 64, func(src *redistest.Server) error {
			return fillMixed(src, n)
		})
	}
	if strings.Contains(only, "cross") {
		n := envInt("BENCH_MIXED", 20_000)
		for _, pair := range strings.Split(envStr("BENCH_CROSS", redistest.Redis70+">"+redistest.Redis60+","+redistest.Valkey91+">"+redistest.Redis80), ",") {
			from, to, ok := strings.Cut(pair, ">")
			if !ok {
				t.Fatalf("BENCH_CROSS: %q is not source>target", pair)
			}
			b.fullSync(fmt.Sprintf("mixed, %d keys, %s into %s", n, from, to), from, to, 64, func(src *redistest.Server) error {
				return fillMixed(src, n)
			})
		}
	}
	if strings.Contains(only, "big") {
		bk := bigKeys{scale: b.res.BigScale}
		b.fullSync("big keys: "+bk.describe(), b.server, b.server, 100, func(src *redistest.Server) error {
			return bk.fill(src.Addr)
		})
	}
	if strings.Contains(only, "catchup") {
		b.catchUp(envInt("BENCH_CATCHUP", 2_000_000))
	}
	if strings.Contains(only, "streaming") {
		b.streaming()
	}
	if strings.Contains(only, "cluster") {
		b.cluster() // cluster_test.go
	}
	b.report()
}

type result struct {
	Started string `json:"started"`
	Server  string `json:"server"`
	Binary  string `json:"binary"`
	CPUs    int    `json:"cpus"`
	// LoadAvg is /proc/loadavg at the start and the end: figures taken
	// beside other work are noisier (the ratios less so).
	LoadAvg  []string `json:"loadavg"`
	BigScale int      `json:"big_keys_scale"`
	Rows     []row    `json:"rows"`
}

// row is one line of the table: redferry against its baseline.
type row struct {
	Test      string  `json:"test"`
	Dataset   string  `json:"dataset"`
	Unit      string  `json:"unit"`     // "s" (lower is better) or "cmd/s" (higher is better)
	Baseline  float64 `json:"baseline"` // native replication or the target's raw ingest
	Redferry  float64 `json:"redferry"`
	Ratio     float64 `json:"ratio"` // redferry / baseline
	PeakRSSMB float64 `json:"peak_rss_mb"`
	// CPU seconds (medians) of a full sync: the target's (INFO cpu), for
	// native replication and for redferry, and redferry's own. On a loaded
	// machine they vary much less than the wall times.
	BaselineTargetCPU float64 `json:"baseline_target_cpu_s,omitempty"`
	TargetCPU         float64 `json:"target_cpu_s,omitempty"`
	RedferryCPU       float64 `json:"redferry_cpu_s,omitempty"`
	Goal              string  `json:"goal,omitempty"`
	Met               *bool   `json:"met,omitempty"`
	Note              string  `json:"note,omitempty"`
}

type bench struct {
	t      *testing.T
	server string
	modes  []string // --replay-mode values, when the binary has the setting
	res    result
	// rawIngest is the target's raw pipelined ingest measured by catchUp,
	// the streaming row's baseline.
	rawIngest float64
}

// replayModes returns the --replay-mode values to measure separately.
func replayModes(help string) []string {
	if !strings.Contains(help, "--replay-mode") {
		return nil
	}
	if v := os.Getenv("BENCH_MODES"); v != "" {
		if v == "-" {
			return nil
		}
		return strings.Split(v, ",")
	}
	return []string{"commands", "restore"}
}

func (b *bench) add(r row) {
	if r.Baseline > 0 {
		r.Ratio = r.Redferry / r.Baseline
	}
	b.res.Rows = append(b.res.Rows, r)
	b.t.Logf("%-10s %-50s baseline %10.2f %-5s redferry %10.2f ratio %5.2f rss %6.1f MB %s", r.Test, r.Dataset, r.Baseline, r.Unit, r.Redferry, r.Ratio, r.PeakRSSMB, r.Note)
	if r.TargetCPU > 0 {
		b.t.Logf("%-10s cpu seconds: target %.2f (native replica %.2f), redferry %.2f", r.Test, r.TargetCPU, r.BaselineTargetCPU, r.RedferryCPU)
	}
}

func (b *bench) source(args ...string) *redistest.Server {
	return b.sourceOf(b.server, args...)
}

func (b *bench) sourceOf(name string, args ...string) *redistest.Server {
	return redistest.Start(b.t, name, redistest.Options{Args: append([]string{
		"repl-diskless-sync-delay", "0", "repl-backlog-size", "1gb", "save", "",
	}, args...)})
}

// fullSync fills a source (server from), then times native replication
// and redferry sync --once (and each replay mode) into fresh targets
// (server to). The runs are interleaved BENCH_REPS times (default 3) and
// each side's median is kept, so a burst of load from elsewhere on the
// machine hits both sides alike. A target of another version than the
// source cannot replicate from it: native replication is then that of a
// replica of the source's version (the same data, as the issue measures
// downgrades), and the restore mode, the same as commands there, is left out.
func (b *bench) fullSync(dataset, from, to string, rssGoalMB float64, fill func(*redistest.Server) error) {
	t := b.t
	src := b.sourceOf(from)
	start := time.Now()
	if err := fill(src); err != nil {
		t.Fatal(err)
	}
	want := dbsize(t, src)
	t.Logf("filled %s: %d keys in %s", dataset, want, time.Since(start).Round(time.Millisecond))

	modes := []string{""}
	for _, m := range b.modes {
		if from == to || m != "restore" {
			modes = append(modes, m)
		}
	}
	reps := envInt("BENCH_REPS", 3)
	var native, nativeCPU []float64
	took := make([][]float64, len(modes))
	tgtCPU := make([][]float64, len(modes))
	rfCPU := make([][]float64, len(modes))
	rss := make([]float64, len(modes))
	notes := make([]string, len(modes))
	for rep := 0; rep < reps; rep++ {
		d, tgt := nativeSync(t, src, from)
		nativeCPU = append(nativeCPU, serverCPU(t, tgt))
		tgt.Stop()
		native = append(native, d.Seconds())
		for i, mode := range modes {
			tgt := redistest.Start(t, to, redistest.Options{Args: []string{"save", ""}})
			var extra []string
			if mode != "" {
				extra = []string{"--replay-mode", mode}
			}
			p := startRedferry(t, src, tgt, t.TempDir(), true, extra...)
			if err := p.wait(60 * time.Minute); err != nil {
				t.Fatal(err)
			}
			if os.Getenv("BENCH_LOG") != "" {
				t.Logf("redferry output:\n%s", tail(p.out.String()))
			}
			if got := dbsize(t, tgt) - 1; got != want { // - the checkpoint key
				notes[i] = fmt.Sprintf("TARGET HAS %d KEYS, SOURCE %d", got, want)
			}
			took[i] = append(took[i], p.took.Seconds())
			tgtCPU[i] = append(tgtCPU[i], serverCPU(t, tgt))
			rfCPU[i] = append(rfCPU[i], p.cpu.Seconds())
			rss[i] = max(rss[i], p.rssMB)
			tgt.Stop()
		}
	}
	// The issue 9 goal for the pairs that need the rebuild path applies to
	// the cross rows too.
	ratioGoal := strings.HasSuffix(dataset, "strings x 100 B") || from != to
	for i, mode := range modes {
		name := "full sync"
		if mode != "" {
			name += " (" + mode + ")"
		}
		r := row{Test: name, Dataset: dataset, Unit: "s", Baseline: median(native), Redferry: median(took[i]),
			PeakRSSMB: rss[i], Note: notes[i],
			BaselineTargetCPU: median(nativeCPU), TargetCPU: median(tgtCPU[i]), RedferryCPU: median(rfCPU[i])}
		met := rss[i] < rssGoalMB
		r.Goal = fmt.Sprintf("rss < %.0f MB", rssGoalMB)
		if ratioGoal {
			met = met && r.Redferry <= 1.3*r.Baseline
			r.Goal = "<= 1.3x native, " + r.Goal
		}
		r.Met = &met
		if reps > 1 {
			r.Note = strings.TrimSpace(fmt.Sprintf("median of %d; %s", reps, r.Note))
		}
		b.add(r)
	}
	src.Stop()
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// catchUp: redferry is stopped while the source takes n writes, then
// started; its rate is set against the target's raw pipelined ingest of the
// same commands.
func (b *bench) catchUp(n int) {
	t := b.t
	src := b.source()
	tgt := redistest.Start(t, b.server, redistest.Options{Args: []string{"save", ""}})
	state := t.TempDir()
	p := startRedferry(t, src, tgt, state, false)
	if err := p.waitCaughtUp(time.Minute); err != nil {
		t.Fatal(err)
	}
	p.stop(time.Minute)

	if err := fillWith(src.Addr, n, mixCmd); err != nil {
		t.Fatal(err)
	}
	p = startRedferry(t, src, tgt, state, true)
	if err := p.wait(30 * time.Minute); err != nil {
		t.Fatal(err)
	}
	rate := float64(n) / p.took.Seconds()
	note := "redferry time includes start, PSYNC and receive"
	if got, want := dbsize(t, tgt)-1, dbsize(t, src); got != want {
		note = fmt.Sprintf("TARGET HAS %d KEYS, SOURCE %d", got, want)
	}

	// The raw ingest is measured twice, into fresh servers, and averaged.
	var rawRates []float64
	for i := 0; i < 2; i++ {
		raw := redistest.Start(t, b.server, redistest.Options{Args: []string{"save", ""}})
		start := time.Now()
		if err := fillWith(raw.Addr, n, mixCmd); err != nil {
			t.Fatal(err)
		}
		rawRates = append(rawRates, float64(n)/time.Since(start).Seconds())
		raw.Stop()
	}
	rawRate := median(rawRates)
	b.rawIngest = rawRate
	ratio := rate / rawRate
	met := ratio >= 0.7
	b.add(row{Test: "catch-up", Dataset: fmt.Sprintf("%d writes: SET INCR LPUSH HSET ZADD EVAL", n), Unit: "cmd/s",
		Baseline: rawRate, Redferry: rate, PeakRSSMB: p.rssMB, Goal: ">= 70% of raw ingest", Met: &met,
		Note: note})
	tgt.Stop()
	src.Stop()
}

// streaming raises the source write rate step by step while redferry
// follows, and reports the highest rate at which the lag stayed under 1 s.
func (b *bench) streaming() {
	t := b.t
	src := b.source()
	tgt := redistest.Start(t, b.server, redistest.Options{Args: []string{"save", ""}})
	p := startRedferry(t, src, tgt, t.TempDir(), false)
	if err := p.waitCaughtUp(time.Minute); err != nil {
		t.Fatal(err)
	}
	bestAchieved, bounded := b.ramp(p, 25_000, func(rate float64, d time.Duration) (float64, float64, error) {
		return drive(src.Addr, p, rate, d)
	})
	p.stop(time.Minute)
	note := "source write rate (pipelined SET/INCR/LPUSH/HSET/ZADD/EVAL); baseline: the target's raw ingest"
	if bounded {
		note += "; bounded by the load generator, not redferry"
	}
	b.add(row{Test: "streaming", Dataset: "highest rate with lag < 1 s", Unit: "cmd/s", Baseline: b.rawIngest, Redferry: bestAchieved,
		PeakRSSMB: p.rssMB, Note: note})
	tgt.Stop()
	src.Stop()
}

// ramp drives the source through load (rate, step) at rates from start,
// doubling, then halving and bisecting once a rate is too much, and returns
// the highest achieved rate at which redferry's lag stayed under 1 s and it
// caught up afterwards; bounded says that no rate was too much (the load
// generator was the limit).
func (b *bench) ramp(p *rfProc, start float64, load func(rate float64, d time.Duration) (achieved, maxLag float64, err error)) (bestAchieved float64, bounded bool) {
	t := b.t
	step := 4 * time.Second
	var best, bad float64
	rate := start
	for i := 0; i < 8; i++ {
		achieved, maxLag, err := load(rate, step)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("streaming at %.0f cmd/s (achieved %.0f): max lag %.2fs", rate, achieved, maxLag)
		caught := p.waitCaughtUp(30*time.Second) == nil
		if maxLag < 1 && caught && achieved > 0.9*rate {
			best, bestAchieved = rate, achieved
		} else {
			bad = rate
		}
		switch {
		case achieved < 0.9*rate:
			i = 8 // the load generator is the limit now
		case bad == 0:
			rate *= 2
		case best == 0:
			rate /= 2
		default:
			if bad/best < 1.15 {
				i = 8
			}
			rate = (best + bad) / 2
		}
		if !caught {
			break
		}
	}
	return bestAchieved, bad == 0
}

// drive writes the catch-up mix to addr at rate commands a second for d and
// returns the achieved rate and the highest lag redferry reported meanwhile.
func drive(addr string, p *rfProc, rate float64, d time.Duration) (achieved, maxLag float64, err error) {
	pp, err := dialPipe(addr)
	if err != nil {
		return 0, 0, err
	}
	defer pp.close()
	return driveRouted([]*pipe{pp}, func(int) int { return 0 }, p, rate, d)
}

// driveRouted is drive through several connections: the i-th command goes
// to pipes[route(i)] (for a cluster, the master of its key's slot).
func driveRouted(pipes []*pipe, route func(i int) int, p *rfProc, rate float64, d time.Duration) (achieved, maxLag float64, err error) {
	stopPoll := make(chan struct{})
	lagc := make(chan float64)
	go func() {
		var m float64
		tk := time.NewTicker(50 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-stopPoll:
				// One last look: the lag left when the load stops counts too.
				if r, err := p.status(); err == nil {
					m = max(m, r.LagSeconds)
				}
				lagc <- m
				return
			case <-tk.C:
				if r, err := p.status(); err == nil {
					m = max(m, r.LagSeconds)
				}
			}
		}
	}()
	fail := func(err error) (float64, float64, error) {
		close(stopPoll)
		<-lagc
		return 0, 0, err
	}
	start := time.Now()
	var buf []byte
	var sent int
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for time.Since(start) < d {
		<-tick.C
		due := int(rate * time.Since(start).Seconds())
		for ; sent < due; sent++ {
			buf = mixCmd(buf[:0], sent)
			if err := pipes[route(sent)].send(buf); err != nil {
				return fail(err)
			}
		}
		for _, pp := range pipes {
			if err := pp.flush(); err != nil {
				return fail(err)
			}
		}
	}
	achieved = float64(sent) / time.Since(start).Seconds()
	for _, pp := range pipes {
		if err == nil {
			err = pp.wait(time.Minute)
		}
	}
	close(stopPoll)
	return achieved, <-lagc, err
}

func (b *bench) report() {
	t := b.t
	b.res.LoadAvg = append(b.res.LoadAvg, loadAvg())
	var sb strings.Builder
	fmt.Fprintf(&sb, "\nredferry bench (%s, %s, %d CPUs, load average %s)\n", b.server, b.res.Started, b.res.CPUs, strings.Join(b.res.LoadAvg, " → "))
	fmt.Fprintf(&sb, "%-22s %-70s %12s %12s %7s %9s  %s\n", "test", "dataset", "baseline", "redferry", "ratio", "peak RSS", "goal")
	for _, r := range b.res.Rows {
		goal := r.Goal
		if r.Met != nil {
			goal += map[bool]string{true: " (met)", false: " (NOT MET)"}[*r.Met]
		}
		rss := "-" // a row of one shard: the process's peak is on the total's
		if r.PeakRSSMB > 0 {
			rss = strconv.FormatFloat(r.PeakRSSMB, 'f', 1, 64) + "MB"
		}
		fmt.Fprintf(&sb, "%-22s %-70s %12s %12s %7.2f %9s  %s %s\n", r.Test, r.Dataset, fmtVal(r.Baseline, r.Unit), fmtVal(r.Redferry, r.Unit), r.Ratio, rss, goal, r.Note)
	}
	fmt.Print(sb.String())
	out := envStr("BENCH_OUT", filepath.Join("..", "bench-results", "latest.json"))
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		t.Fatal(err)
	}
	data, _ := json.MarshalIndent(b.res, "", "  ")
	if err := os.WriteFile(out, append(data, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("results written to %s", out)
}

func fmtVal(v float64, unit string) string {
	if v == 0 {
		return "-"
	}
	if unit == "s" {
		return strconv.FormatFloat(v, 'f', 2, 64) + " s"
	}
	return strconv.FormatFloat(v/1000, 'f', 1, 64) + "k/s"
}

func envStr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func envInt(k string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil && v > 0 {
		return v
	}
	return def
}

// loadAvg is the 1, 5 and 15 minute load averages.
func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
