package clustersource

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/retry"
	"github.com/redferry/redferry/pkg/server"
	"github.com/redferry/redferry/pkg/syncer"
	"github.com/redferry/redferry/transform"
)

// Atomic slot migrations (Valkey 9 CLUSTER MIGRATESLOTS, Redis 8.4+ CLUSTER
// MIGRATION IMPORT) move whole slots through the replication streams. What
// the masters' streams carry, as observed on Valkey 9.1.2 and Redis 8.6.3:
//
// Valkey, importing master: CLUSTER SYNCSLOTS ESTABLISH SOURCE <exporter id>
// NAME <job> SLOTSRANGE a b …, SYNCSLOTS ACK, then the slots' snapshot as
// plain commands (SET, RPUSH …: the exporter's AOF rewrite of each key), SYNCSLOTS
// SNAPSHOT-EOF, the exporter's writes to the slots since the snapshot as it
// propagated them (INCR, LPUSH …), SYNCSLOTS PAUSED, FAILOVER-GRANTED, and
// SYNCSLOTS FINISH STATE SUCCESS NAME <job>; its own writes to the slots
// follow. A failed or cancelled import ends with UNLINKs of the keys it had
// imported and FINISH STATE FAILED, all before FINISH. The exporting
// master's stream has no framing at all: its clients' writes to the slots
// until the pause, and after the handoff an UNLINK of every key of the
// slots (the trim, spread over time between other writes). Nothing in it
// tells a trim's UNLINK from a client's.
//
// Redis, importing master: CLUSTER SYNCSLOTS CONF ASM-TASK
// <task>:<source id>:<dest id>:import:connecting:<a-b>, FUNCTION RESTORE …
// REPLACE, CLUSTER SYNCSLOTS CONF SLOT-INFO, the snapshot (SET, RESTORE …
// ABSTTL), the exporter's writes since, then ASM-TASK …:import:completed:…
// (or …:import:failed:… followed by TRIMSLOTS RANGES 1 a b, which drops
// what it had imported). Exporting master: ASM-TASK …:migrate:wait-rdbchannel:…,
// its clients' writes, ASM-TASK …:migrate:completed:…, then TRIMSLOTS
// RANGES 1 a b (a failed export: …:migrate:failed:…, no trim).
//
// Snapshots: a Valkey importer's RDB taken during the import holds the keys
// imported so far and an RDB_OPCODE_SLOT_IMPORT (job name, ranges), which
// rdbparse skips; Redis writes an aux field cluster-asm-task. The importer's
// replicas receive the same framing and keys.
//
// How the sync follows them, so that nothing of a slot is applied twice or
// lost:
//
// Redis: the exporter's stream stays the slots' history until its
// migrate:completed mark; the importer's stream is left out for the slots
// from import:connecting on (the exporter's stream has those writes), and at
// import:completed the importer waits, outside the gate, until the exporter's
// link has applied its completed mark; a TRIMSLOTS of a migration this
// sync followed is left out, any other applied (atomic_trim.go).
//
// Valkey: the exporter's stream gives no boundary, so it is applied whole,
// trims included, and the importer's stream is applied after it: at
// ESTABLISH the importer's link waits (outside the gate) until the job has
// ended (CLUSTER GETSLOTMIGRATIONS on the importer, else the exporter). On
// success it further waits until the exporter holds no key of the slots (the
// trim is done; its master_repl_offset read in the same MULTI) and the
// exporter's link has applied that far: the target then holds nothing of the
// slots, and the importer's snapshot and writes rebuild them. On failure the
// importer's writes to the slots until FINISH are left out. Jobs in
// opposite directions at once: atomic_cycle.go. A shard's later full sync
// (a master added, a shard synced afresh): late_sync.go, fresh_exporter.go.
//
// What a restart needs — that an importer is inside a migration whose
// writes are left out, and the exporter's Redis completed marks — is kept in
// the target hash <checkpoint>:asm, written in the transaction of the batch
// that reaches that point.

// asmKey is the target hash of the atomic migrations' state (db 0).
func asmKey(checkpointBase string) string { return checkpointBase + ":asm" }

// asmImport is a migration into one shard whose writes are being left out.
type asmImport struct {
	job    string
	ranges [][2]int
	source string // exporting node id
	// skip: the slots' writes are left out (Redis until completed, Valkey
	// after a failed job); otherwise applied (a Valkey job that succeeded).
	skip bool
	// waited: the handoff wait is done (Redis completed).
	waited bool
	// skipsExporter: the exporter's writes to the slots are left out from
	// the decision on (atomic_cycle.go).
	skipsExporter string
	// endsSkips: the jobs whose rules leaving out this shard's writes to
	// the slots this job ends (non-nil once asked; atomic_cycle.go).
	endsSkips []string
}

func (im *asmImport) covers(slot int) bool {
	for _, r := range im.ranges {
		if slot >= r[0] && slot <= r[1] {
			return true
		}
	}
	return false
}

// asmMark is where an exporter's stream says a Redis task completed.
type asmMark struct {
	shard  string
	offset int64
	// importer: the importing shard ("" in an older redferry's record).
	importer string
}

// encodeMark: <exporter shard>|<offset>|<importer shard>.
func encodeMark(m asmMark) string {
	return m.shard + "|" + strconv.FormatInt(m.offset, 10) + "|" + m.importer
}

func decodeMark(v string) (asmMark, bool) {
	parts := strings.SplitN(v, "|", 3)
	if len(parts) < 2 {
		return asmMark{}, false
	}
	n, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return asmMark{}, false
	}
	m := asmMark{shard: parts[0], offset: n}
	if len(parts) == 3 {
		m.importer = parts[2]
	}
	return m, true
}

// asmHooks are what the migrations need from the supervisor.
type asmHooks struct {
	// jobState returns the state of Valkey job on the master of shard ("" when
	// it does not know the job).
	jobState func(ctx context.Context, shard, job string) (string, error)
	// drained returns the master_repl_offset of shard's master once it holds
	// no key of ranges (ok false while it holds some).
	drained func(ctx context.Context, shard string, ranges [][2]int) (offset int64, ok bool, err error)
	// later returns the Valkey import jobs into shard's master overlapping
	// ranges that began after job.
	later func(ctx context.Context, shard, job string, ranges [][2]int) ([]string, error)
	// applied returns the applied offset of shard's running link (false:
	// no link runs for it).
	applied func(shard string) (int64, bool)
	// targetDB maps a source db to the target's.
	targetDB func(db int) int
	// followed: this sync follows shard (--shards may leave it out).
	followed func(shard string) bool
	// clearSlots runs take while no shard's batch is in flight and, when
	// it says so, deletes every key of ranges from the target before any
	// is again.
	clearSlots func(ctx context.Context, ranges [][2]int, take func() bool) error
	// beforeFresh: job ended before exporter's fresh full sync, whose
	// stream therefore has nothing of it (fresh_exporter.go).
	beforeFresh func(job, exporter string) bool
	// taskState returns the state of Redis task on shard's master.
	taskState func(ctx context.Context, shard, task string) (string, error)
	// importsDone lists the jobs that brought shard's master the slots it
	// serves (Valkey; see late_sync.go).
	importsDone func(ctx context.Context, shard string) ([]*asmImport, error)
	// trimOrphans deletes from the target the keys of ranges that their
	// slots' owners do not hold (a trim of slots shard does not own; see
	// atomic_trim.go).
	trimOrphans func(ctx context.Context, shard string, ranges [][2]int) error
}

type atomicMigrations struct {
	log   *zap.Logger
	hash  string
	hooks asmHooks

	mu      sync.Mutex
	imports map[string]map[string]*asmImport // by importing shard, by job
	marks   map[string]asmMark               // Redis task id → exporter's completed mark
	nodes   map[string]string                // node id → shard name
	// established: where each shard's stream began a Valkey import, by
	// job (the start offset of its ESTABLISH).
	established map[string]map[string]int64
	// trims: the TRIMSLOTS each shard's stream is to send for migrations
	// this sync followed (by shard, by task); trimmed: where a shard's
	// stream had its last other trim applied (atomic_trim.go).
	trims map[string]map[string][][2]int
	// connecting: a Redis import into the shard began, whose FUNCTION
	// RESTORE is still to come (also of an import this sync applies).
	connecting map[string]bool
	// waiting: shards whose stream is held in a migration's wait;
	// exportSkips: slots whose writes an exporter's stream leaves out, by
	// exporter, by job (atomic_cycle.go).
	waiting     map[string]int
	cleared     map[string]bool // Redis tasks whose slots were emptied for the importer's copy
	notFresh    map[string]bool // Redis tasks from a fresh exporter that failed: the usual course
	exportSkips map[string]map[string]exportSkip
	trimmed     map[string]int64
	skipped     int64
	// lately: when an atomic job last covered each slot it moved; the
	// classic migrations' gate leaves those slots to this one.
	lately map[int]time.Time
}

func newAtomicMigrations(log *zap.Logger, checkpointBase string, hooks asmHooks) *atomicMigrations {
	return &atomicMigrations{log: log, hash: asmKey(checkpointBase), hooks: hooks,
		imports: map[string]map[string]*asmImport{}, marks: map[string]asmMark{}, nodes: map[string]string{},
		established: map[string]map[string]int64{}, trims: map[string]map[string][][2]int{}, connecting: map[string]bool{}, waiting: map[string]int{}, cleared: map[string]bool{}, notFresh: map[string]bool{}, exportSkips: map[string]map[string]exportSkip{}, trimmed: map[string]int64{},
		lately: map[int]time.Time{}}
}

// setNodes takes the node ids of every shard from a topology read.
func (a *atomicMigrations) setNodes(topo Topology, names []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i, s := range topo.Shards {
		for _, id := range s.NodeIDs {
			a.nodes[id] = names[i]
		}
	}
}

func (a *atomicMigrations) shardOf(node string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.nodes[node]
}

// admit handles the commands of atomic migrations (handled true) and leaves
// out the writes of slots an import's state says to.
func (a *atomicMigrations) admit(shard string, args [][]byte, db int, offset int64) (syncer.Admission, bool, error) {
	name := strings.ToLower(string(args[0]))
	switch {
	case name == "trimslots":
		return a.admitTrim(shard, args, db, offset), true, nil
	case name == "syncslots":
		return syncer.Admission{Skip: true}, true, nil
	case name == "cluster" && len(args) > 2 && bytes.EqualFold(args[1], []byte("syncslots")):
		return a.framing(shard, args, db, offset)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if (len(a.imports[shard]) > 0 || a.connecting[shard]) && name == "function" && len(args) > 1 && bytes.EqualFold(args[1], []byte("restore")) {
		delete(a.connecting, shard)
		// Redis copies the exporter's functions to the importer; the
		// target has every master's functions from its snapshot already.
		return syncer.Admission{Skip: true}, true, nil
	}
	idx, ok := transform.TouchedKeys(args)
	if !ok || len(idx) == 0 {
		return syncer.Admission{}, false, nil
	}
	slot := server.KeySlot(args[idx[0]])
	for _, im := range a.imports[shard] {
		if im.skip && im.covers(slot) {
			a.skipped++
			return syncer.Admission{Skip: true}, true, nil
		}
	}
	for _, x := range a.exportSkips[shard] {
		if (&asmImport{ranges: x.ranges}).covers(slot) {
			a.skipped++
			return syncer.Admission{Skip: true}, true, nil
		}
	}
	return syncer.Admission{}, false, nil
}

func (a *atomicMigrations) framing(shard string, args [][]byte, db int, offset int64) (syncer.Admission, bool, error) {
	sub := strings.ToLower(string(args[2]))
	switch {
	case sub == "establish":
		return a.valkeyEstablish(shard, args, db, offset), true, nil
	case sub == "finish":
		return a.valkeyFinish(shard, args, db), true, nil
	case sub == "conf" && len(args) > 4 && bytes.EqualFold(args[3], []byte("asm-task")):
		adm, err := a.redisTask(shard, string(args[4]), db, offset)
		return adm, true, err
	}
	// ACK, SNAPSHOT-EOF, PAUSED, FAILOVER-GRANTED, SLOT-INFO: framing only.
	return syncer.Admission{Skip: true}, true, nil
}

// option returns the value after name in args (from i on).
func option(args [][]byte, from int, name string) (string, int) {
	for i := from; i+1 < len(args); i++ {
		if bytes.EqualFold(args[i], []byte(name)) {
			return string(args[i+1]), i + 1
		}
	}
	return "", -1
}

// waitApplied waits until shard's link has applied offset (or stopped).
func (a *atomicMigrations) waitApplied(ctx context.Context, log *zap.Logger, shard string, offset int64) error {
	warned := time.Now()
	for {
		got, linked := a.hooks.applied(shard)
		if !linked || got >= offset {
			return nil
		}
		if time.Since(warned) > 30*time.Second {
			log.Warn("an atomic slot migration waits for the exporting shard's link", zap.String("exporter", shard),
				zap.Int64("applied", got), zap.Int64("want", offset))
			warned = time.Now()
		}
		if err := retry.Sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
}

func (a *atomicMigrations) setImport(shard string, im *asmImport) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.noteSlots(im.ranges)
	if a.imports[shard] == nil {
		a.imports[shard] = map[string]*asmImport{}
	}
	a.imports[shard][im.job] = im
}

// atomicQuiet is how long after an atomic job its slots are left to the
// atomic migrations' rules alone.
const atomicQuiet = 10 * time.Minute

// noteSlots records that an atomic job moves ranges now. With a.mu held.
func (a *atomicMigrations) noteSlots(ranges [][2]int) {
	now := time.Now()
	for _, r := range ranges {
		for slot := r[0]; slot <= r[1] && slot < server.SlotCount; slot++ {
			a.lately[slot] = now
		}
	}
}

// movedLately reports whether an atomic job moved slot within atomicQuiet.
func (a *atomicMigrations) movedLately(slot int) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	at, ok := a.lately[slot]
	return ok && time.Since(at) < atomicQuiet
}

// persist applies cmd to the asm hash in db 0 of the target, in the
// transaction of the batch reaching this point of the stream (alone: PING
// stands for the framing command, which the target does not take).
func (a *atomicMigrations) persist(db int, cmd string, args ...string) syncer.Admission {
	return a.persistAll(db, append([]string{cmd}, args...))
}

// persistAll is persist of several commands, each a command name and its
// arguments after the hash's name.
func (a *atomicMigrations) persistAll(db int, cmds ...[]string) syncer.Admission {
	var before [][]string
	for _, c := range cmds {
		before = append(before, append([]string{c[0], a.hash}, c[1:]...))
	}
	if t := a.hooks.targetDB(db); t != 0 {
		before = append(append([][]string{{"SELECT", "0"}}, before...), []string{"SELECT", strconv.Itoa(t)})
	}
	return syncer.Admission{Alone: true, Before: before, Args: [][]byte{[]byte("PING")}}
}

// load restores the state kept in the target (after a restart).
func (a *atomicMigrations) load(recs map[string]string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for f, v := range recs {
		switch {
		case strings.HasPrefix(f, "imp:"):
			shard, _, _ := strings.Cut(strings.TrimPrefix(f, "imp:"), ":")
			if im, ok := decodeImport(v); ok {
				if a.imports[shard] == nil {
					a.imports[shard] = map[string]*asmImport{}
				}
				a.imports[shard][im.job] = im
			}
		case strings.HasPrefix(f, "mark:"):
			if m, ok := decodeMark(v); ok {
				a.marks[strings.TrimPrefix(f, "mark:")] = m
			}
		case strings.HasPrefix(f, "xskip:"):
			shard, job, _ := strings.Cut(strings.TrimPrefix(f, "xskip:"), ":")
			if a.exportSkips[shard] == nil {
				a.exportSkips[shard] = map[string]exportSkip{}
			}
			a.exportSkips[shard][job] = decodeExportSkip(v)
		case strings.HasPrefix(f, "trim:"):
			shard, task, _ := strings.Cut(strings.TrimPrefix(f, "trim:"), ":")
			if a.trims[shard] == nil {
				a.trims[shard] = map[string][][2]int{}
			}
			a.trims[shard][task] = parseRanges(v)
		}
	}
}

// skippedTotal: writes of moving slots left out.
func (a *atomicMigrations) skippedTotal() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.skipped
}

// importField names an import's record: imp:<shard>:<job>.
func importField(shard, job string) string { return "imp:" + shard + ":" + job }

func encodeImport(im *asmImport) string {
	return im.job + "|" + im.source + "|" + formatRanges(im.ranges)
}

func decodeImport(v string) (*asmImport, bool) {
	parts := strings.SplitN(v, "|", 3)
	if len(parts) != 3 {
		return nil, false
	}
	return &asmImport{job: parts[0], source: parts[1], ranges: parseRanges(parts[2]), skip: true}, true
}

func formatRanges(ranges [][2]int) string {
	out := make([]string, 0, len(ranges))
	for _, r := range ranges {
		out = append(out, strconv.Itoa(r[0])+"-"+strconv.Itoa(r[1]))
	}
	return strings.Join(out, ",")
}

// parseRanges reads "a-b,c-d" (or separated by spaces).
func parseRanges(s string) [][2]int {
	var out [][2]int
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		from, to, ok := strings.Cut(f, "-")
		if !ok {
			to = from
		}
		a, err1 := strconv.Atoi(from)
		b, err2 := strconv.Atoi(to)
		if err1 == nil && err2 == nil {
			out = append(out, [2]int{a, b})
		}
	}
	return out
}
