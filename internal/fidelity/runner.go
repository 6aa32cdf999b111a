package fidelity

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redferry/redferry/pkg/checkpoint"
	"github.com/redferry/redferry/pkg/redistest"
	"github.com/redferry/redferry/pkg/verify"
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

// play runs one entry on the source and waits for redferry to apply it.
// When redferry stops, its error names the source offset of the command it
// stopped on: that offset tells which entry stopped it. An error inside a
// transaction can leave the rest of the batch applied (the fence too), so
// the entry at fault may be the one before; this one is then played again
// in the new run.
func (r *pairRun) play(e Entry) { r.playOnce(e, true) }

func (r *pairRun) playOnce(e Entry, retry bool) {
	start := r.sourceOffset()
	refusal := r.runOnSource(e)
	r.spans = append(r.spans, span{entry: e.Name, from: start, to: r.sourceOffset()})
	stop := r.fence(r.opt.ApplyTimeout)
	if stop == nil {
		if refusal != "" {
			r.set(e.Name, NotApplicable, refusal)
		} else {
			r.segment = append(r.segment, e.Name)
		}
		return
	}
	culprit := r.blame(stop, e.Name)
	if culprit == e.Name && refusal != "" {
		r.set(e.Name, NotApplicable, refusal+"; redferry stopped on what the source did accept: "+stop.msg)
	}
	r.endSegment(nil)
	r.restart()
	if culprit != e.Name && retry && r.broken == "" {
		r.playOnce(e, false)
	}
}

// blame gives the entry at the offset redferry's error names (else
// fallback) its stop outcome, and takes it out of the segment.
func (r *pairRun) blame(stop *stopInfo, fallback string) string {
	culprit := r.entryAt(stop.msg)
	if culprit == "" {
		culprit = fallback
	}
	o := StoppedUnclear
	if stop.exited && namesCommand(stop.msg, r.commands) {
		o = Stopped
	}
	r.segment = slices.DeleteFunc(r.segment, func(n string) bool { return n == culprit })
	r.set(culprit, o, stop.msg)
	return culprit
}

// finish checks that redferry still runs after the last entry: a failure
// inside a transaction lets the batch (and the fence) apply before it
// exits.
func (r *pairRun) finish() {
	if r.broken != "" {
		return
	}
	if stop := r.fence(r.opt.ApplyTimeout); stop != nil {
		if last := len(r.spans) - 1; last >= 0 {
			r.blame(stop, r.spans[last].entry)
		}
	}
}

// span is the source offsets an entry's commands took: (from, to].
type span struct {
	entry    string
	from, to int64
}

var offsetInError = regexp.MustCompile(`\b(?:source|stream) offset (\d+)`)

// entryAt finds the entry whose commands hold the source offset named in
// redferry's error ("" when it names none, or one outside every entry).
func (r *pairRun) entryAt(msg string) string {
	m := offsetInError.FindStringSubmatch(msg)
	if m == nil {
		return ""
	}
	off, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return ""
	}
	for i := len(r.spans) - 1; i >= 0; i-- {
		if sp := r.spans[i]; sp.from < off && off <= sp.to {
			return sp.entry
		}
	}
	return ""
}

// sourceOffset is the source's master_repl_offset.
func (r *pairRun) sourceOffset() int64 {
	v := r.src.InfoField(r.tb, "replication", "master_repl_offset")
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		r.tb.Fatalf("master_repl_offset %q on the source: %v", v, err)
	}
	return n
}

// runOnSource runs the entry's setup and commands on the source: "" or
// what the source refused.
func (r *pairRun) runOnSource(e Entry) string {
	conn := r.srcC.Conn()
	defer func() {
		// The connection goes back to the pool the fence key is written
		// with: out of any transaction left open, back to db 0 first.
		_ = conn.Do(r.ctx, "DISCARD").Err()
		if err := conn.Do(r.ctx, "SELECT", 0).Err(); err != nil {
			r.tb.Fatalf("SELECT 0 on the source after entry %s: %v", e.Name, err)
		}
		conn.Close()
	}()
	if e.DB != 0 {
		if err := conn.Do(r.ctx, "SELECT", e.DB).Err(); err != nil {
			return fmt.Sprintf("SELECT %d: %v", e.DB, err)
		}
	}
	x := &expander{entry: e, src: conn, now: time.Now}
	for _, c := range e.Setup {
		if err := r.do(x, conn, c); err != nil {
			return fmt.Sprintf("setup %s: %v", strings.Join(head(c), " "), err)
		}
	}
	for _, c := range e.Run {
		if err := r.do(x, conn, c); err != nil && !e.AllowErrors {
			return fmt.Sprintf("%s: %v", strings.Join(head(c), " "), err)
		}
	}
	return ""
}

// head is the command name and subcommand, for messages.
func head(c Cmd) []string {
	if len(c) > 1 && len(c[1]) < 16 && strings.ToUpper(c[1]) == c[1] && !strings.Contains(c[1], "{") {
		return c[:2]
	}
	return c[:min(1, len(c))]
}

func (r *pairRun) do(x *expander, conn *redis.Conn, c Cmd) error {
	if ok, err := x.runnerSide(r.ctx, c); ok {
		return err
	}
	args, err := x.args(r.ctx, c)
	if err != nil {
		return err
	}
	if err := conn.Do(r.ctx, args...).Err(); err != nil && !errors.Is(err, redis.Nil) {
		return err
	}
	return nil
}

// restart stops redferry, removes every entry's keys and functions from
// the source (what a new full sync would choke on is gone with them),
// empties the target (with the checkpoint, so the new run cannot resume
// into the command that stopped the last one), and starts a new run.
func (r *pairRun) restart() {
	r.proc.stop()
	r.clearEntries()
	if err := r.dstC.FlushAll(r.ctx).Err(); err != nil {
		r.tb.Fatalf("FLUSHALL on the target: %v", err)
	}
	if err := r.startSync(true); err != nil {
		r.broken = err.Error()
		r.tb.Logf("%s→%s: %v", r.src.Name, r.dst.Name, err)
	}
}

// clearEntries deletes the source's keys that belong to corpus entries, and
// its function libraries (only entries load them).
func (r *pairRun) clearEntries() {
	for db := 0; db < 16; db++ {
		c := r.src.ClientDB(db)
		var cursor uint64
		for {
			keys, next, err := c.Scan(r.ctx, cursor, "", 500).Result()
			if err != nil {
				r.tb.Fatalf("SCAN db %d on the source: %v", db, err)
			}
			var del []string
			for _, k := range keys {
				if r.owner(k) != "" {
					del = append(del, k)
				}
			}
			if len(del) > 0 {
				if err := c.Del(r.ctx, del...).Err(); err != nil {
					r.tb.Fatalf("DEL on the source: %v", err)
				}
			}
			if cursor = next; cursor == 0 {
				break
			}
		}
		c.Close()
	}
	_ = r.srcC.Do(r.ctx, "FUNCTION", "FLUSH").Err() // fails on 6.x, which has none
	r.ctrl.WaitCaughtUp(r.tb, r.src)
}

// owner is the entry a key (or, for a function diff, a library) belongs to.
func (r *pairRun) owner(key string) string {
	if i := strings.IndexByte(key, ':'); i > 0 {
		return r.owners[key[:i+1]]
	}
	return r.owners[key]
}

// endSegment compares the source with the target and with the control,
// and gives each entry of the segment its outcome. For an isolated entry,
// every difference that was not there at the last compare is its own.
func (r *pairRun) endSegment(isolated *Entry) {
	if len(r.segment) == 0 {
		return
	}
	target, control := r.compareBoth()
	byEntry := func(diffs []verify.Diff, side string) map[string][]verify.Diff {
		out := map[string][]verify.Diff{}
		for _, d := range diffs {
			o := r.owner(d.Key)
			if isolated != nil && (o == isolated.Name || !r.baseline[side][diffID{d.DB, d.Key, d.Kind}]) {
				o = isolated.Name
			}
			out[o] = append(out[o], d)
		}
		return out
	}
	tgt, ctl := byEntry(target, "target"), byEntry(control, "control")
	for _, name := range r.segment {
		switch {
		case len(tgt[name]) == 0:
			r.set(name, Equal, "")
		case len(ctl[name]) > 0:
			r.set(name, Server, "target: "+diffText(tgt[name])+"; native replica: "+diffText(ctl[name]))
		default:
			r.set(name, Differs, diffText(tgt[name]))
		}
	}
	if d := tgt[""]; len(d) > 0 && r.results[SnapshotEntry] == nil {
		r.set(SnapshotEntry, Differs, diffText(d))
	}
	r.baseline = map[string]map[diffID]bool{"target": ids(target), "control": ids(control)}
	r.segment = r.segment[:0]
}

// compareBoth compares the source with the target and, once it has caught
// up, with the control.
func (r *pairRun) compareBoth() (target, control []verify.Diff) {
	r.ctrl.WaitCaughtUp(r.tb, r.src)
	target = r.compare(r.dstC, "target")
	ctrlC := r.ctrl.Client()
	defer ctrlC.Close()
	return target, r.compare(ctrlC, "control")
}

// rebaseline records the differences there are now, so that an isolated
// entry is blamed only for new ones.
func (r *pairRun) rebaseline() {
	target, control := r.compareBoth()
	r.baseline = map[string]map[diffID]bool{"target": ids(target), "control": ids(control)}
}

func ids(diffs []verify.Diff) map[diffID]bool {
	out := make(map[diffID]bool, len(diffs))
	for _, d := range diffs {
		out[diffID{d.DB, d.Key, d.Kind}] = true
	}
	return out
}

// compare runs pkg/verify between the source and other.
func (r *pairRun) compare(other *redis.Client, side string) []verify.Diff {
	rep, err := verify.Compare(r.ctx, r.srcC, other, verify.Options{IgnoreKeys: func(_ int, key string) bool {
		return key == fenceKey || strings.HasPrefix(key, checkpoint.KeyPrefix)
	}})
	if err != nil {
		r.tb.Fatalf("comparing the source with the %s: %v", side, err)
	}
	return rep.Diffs
}

// diffText is a short account of an entry's differences.
func diffText(diffs []verify.Diff) string {
	parts := make([]string, 0, 3)
	for i, d := range diffs {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("(%d more)", len(diffs)-3))
			break
		}
		parts = append(parts, d.String())
	}
	return strings.Join(parts, "; ")
}
