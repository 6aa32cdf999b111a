package fidelity

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redferry/redferry/internal/redistest"
)

// fenceKey is written to the source after each entry; once the target
// holds its new value, redferry has applied everything before it. (The
// checkpoint key in the target would not do: it moves only with batches
// that write, so after an entry that propagates nothing, or PINGs, it
// stays behind the source's master_repl_offset.)
const fenceKey = "fidelity-fence"

// SnapshotEntry names the result for differences in the data written
// before the sync started (no corpus entry's keys).
const SnapshotEntry = "(snapshot)"

// RunOptions configure RunPair.
type RunOptions struct {
	Binary string  // the redferry program (BuildRedferry)
	Corpus []Entry // the entries to play, in order
	// SnapshotKeys is how many keys the source holds before the sync
	// starts (a redistest.Workload fill), so the stream follows a snapshot.
	SnapshotKeys int
	// ApplyTimeout bounds the wait for redferry to apply one entry (default 20s).
	ApplyTimeout time.Duration
}

// RunPair plays the corpus through one pair: a fresh source, a native
// replica of it (the control) and a fresh target, with `redferry sync`
// from the source to the target. Each entry runs on the source (setup and
// command), then the runner waits until the target holds a fence key
// written after it, or redferry exits. When redferry stops, the entries
// played since its start are compared, the source is cleared of entry keys
// and a new redferry run (flushing the target) goes on with the next entry.
// It returns one Result per entry, in corpus order, plus a SnapshotEntry
// result when the snapshot data differ.
func RunPair(tb testing.TB, p Pair, opt RunOptions) []Result {
	tb.Helper()
	if opt.ApplyTimeout <= 0 {
		opt.ApplyTimeout = 20 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	r := &pairRun{tb: tb, ctx: ctx, opt: opt, dir: tb.TempDir(), results: map[string]*Result{}, owners: map[string]string{}}
	r.src = redistest.Start(tb, p.Source, redistest.Options{Args: []string{"repl-diskless-sync-delay", "0", "repl-backlog-size", "64mb"}})
	r.ctrl = redistest.Start(tb, p.Source, redistest.Options{})
	r.dst = redistest.Start(tb, p.Target, redistest.Options{})
	r.srcC, r.dstC = r.src.Client(), r.dst.Client()
	defer r.srcC.Close()
	defer r.dstC.Close()
	r.ctrl.ReplicateFrom(tb, r.src)
	for _, e := range opt.Corpus {
		r.owners[e.KeyPrefix()] = e.Name
		r.owners[e.Library()] = e.Name
	}
	r.readCommandNames()

	wl := &redistest.Workload{Seed: 11, Version: r.src.Version, DBs: 1}
	if err := wl.Fill(ctx, r.srcC, opt.SnapshotKeys); err != nil {
		tb.Fatalf("%s: filling the source: %v", p, err)
	}
	if err := r.startSync(false); err != nil {
		tb.Fatalf("%s: %v", p, err)
	}
	defer func() { r.proc.stop() }()

	var isolated []Entry
	for _, e := range opt.Corpus {
		switch {
		case e.NotReplayed != "":
			r.set(e.Name, NotReplayed, e.NotReplayed)
		case e.Isolated:
			isolated = append(isolated, e)
		case r.broken != "":
			r.set(e.Name, NotRun, r.broken)
		default:
			r.play(e)
		}
	}
	if len(r.segment) > 0 {
		r.endSegment(nil)
	} else if len(isolated) > 0 && r.broken == "" {
		r.rebaseline()
	}
	for _, e := range isolated {
		if r.broken != "" {
			r.set(e.Name, NotRun, r.broken)
			continue
		}
		r.play(e)
		if len(r.segment) > 0 {
			r.endSegment(&e)
		}
	}
	r.finish()

	out := make([]Result, 0, len(opt.Corpus)+1)
	for _, e := range opt.Corpus {
		res := r.results[e.Name]
		if res == nil {
			res = &Result{Entry: e.Name, Outcome: NotRun, Detail: "the runner never got to it"}
		}
		out = append(out, *res)
	}
	if res := r.results[SnapshotEntry]; res != nil {
		out = append(out, *res)
	}
	for i := range out {
		out[i].Source, out[i].Target = r.src.Name, r.dst.Name
	}
	return out
}

type pairRun struct {
	tb             testing.TB
	ctx            context.Context
	opt            RunOptions
	dir            string
	src, ctrl, dst *redistest.Server
	srcC, dstC     *redis.Client
	proc           *syncProcess
	runs, fenceSeq int
	commands       map[string]bool   // the source's command names, upper case
	owners         map[string]string // key prefix or library name → entry
	results        map[string]*Result
	segment        []string                   // entries applied since the last compare
	spans          []span                     // the source offsets of each entry played
	baseline       map[string]map[diffID]bool // "target"/"control" → the diffs of the last compare
	broken         string                     // why no more entries can run
}

type diffID struct {
	db        int
	key, kind string
}

func (r *pairRun) set(entry string, o Outcome, detail string) {
	r.results[entry] = &Result{Entry: entry, Outcome: o, Detail: detail}
}

// readCommandNames learns the source's command names, to tell whether
// redferry's error names one.
func (r *pairRun) readCommandNames() {
	r.commands = map[string]bool{}
	table, err := r.srcC.Do(r.ctx, "COMMAND").Slice()
	if err != nil {
		r.tb.Fatalf("COMMAND on %s: %v", r.src.Name, err)
	}
	for _, e := range table {
		if info, ok := e.([]any); ok && len(info) > 0 {
			r.commands[strings.ToUpper(fmt.Sprint(info[0]))] = true
		}
	}
}

// startSync starts a redferry run and waits until it applies the stream.
func (r *pairRun) startSync(flush bool) error {
	r.runs++
	n := strconv.Itoa(r.runs)
	proc, err := startSync(r.opt.Binary, r.src.URL(), r.dst.URL(), filepath.Join(r.dir, "state-"+n),
		filepath.Join(r.dir, "redferry-"+n+".log"), flush)
	if err != nil {
		return err
	}
	r.proc = proc
	if stop := r.fence(2 * time.Minute); stop != nil {
		return fmt.Errorf("redferry run %d did not reach the stream: %s", r.runs, stop.msg)
	}
	return nil
}

type stopInfo struct {
	exited bool
	msg    string
}

// fence writes the fence key on the source and waits until the target
// holds it: nil, or why redferry did not get there.
func (r *pairRun) fence(timeout time.Duration) *stopInfo {
	r.fenceSeq++
	val := strconv.Itoa(r.fenceSeq)
	if err := r.srcC.Set(r.ctx, fenceKey, val, 0).Err(); err != nil {
		r.tb.Fatalf("SET %s on the source: %v", fenceKey, err)
	}
	deadline := time.Now().Add(timeout)
	for {
		got, err := r.dstC.Get(r.ctx, fenceKey).Result()
		if err == nil && got == val {
			return nil
		}
		if r.proc.exited() {
			return &stopInfo{exited: true, msg: r.proc.failure()}
		}
		if time.Now().After(deadline) || r.ctx.Err() != nil {
			return &stopInfo{msg: fmt.Sprintf("redferry did not apply the stream within %s (still running; last error: %s)",
				timeout, r.proc.failure())}
		}
		time.Sleep(3 * time.Millisecond)
	}
}
