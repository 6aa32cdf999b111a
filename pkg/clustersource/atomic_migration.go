package clustersource

import (
	"bytes"
	"context"
	"fmt"
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
// link has applied its completed mark; TRIMSLOTS is always left out.
//
// Valkey: the exporter's stream gives no boundary, so it is applied whole,
// trims included, and the importer's stream is applied after it: at
// ESTABLISH the importer's link waits (outside the gate) until the job has
// ended (CLUSTER GETSLOTMIGRATIONS on the importer, else the exporter). On
// success it further waits until the exporter holds no key of the slots (the
// trim is done; its master_repl_offset read in the same MULTI) and the
// exporter's link has applied that far: the target then holds nothing of the
// slots, and the importer's snapshot and writes rebuild them. On failure the
// importer's writes to the slots until FINISH are left out.
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
	skipped     int64
}

func newAtomicMigrations(log *zap.Logger, checkpointBase string, hooks asmHooks) *atomicMigrations {
	return &atomicMigrations{log: log, hash: asmKey(checkpointBase), hooks: hooks,
		imports: map[string]map[string]*asmImport{}, marks: map[string]asmMark{}, nodes: map[string]string{},
		established: map[string]map[string]int64{}}
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
	case name == "trimslots" || name == "syncslots":
		// The trim follows a completed export (the importer's stream has
		// the slots now) or a failed import (left out already).
		return syncer.Admission{Skip: true}, true, nil
	case name == "cluster" && len(args) > 2 && bytes.EqualFold(args[1], []byte("syncslots")):
		return a.framing(shard, args, db, offset)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.imports[shard]) > 0 && name == "function" && len(args) > 1 && bytes.EqualFold(args[1], []byte("restore")) {
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

func (a *atomicMigrations) valkeyEstablish(shard string, args [][]byte, db int, offset int64) syncer.Admission {
	job, _ := option(args, 3, "name")
	source, _ := option(args, 3, "source")
	var ranges [][2]int
	if _, i := option(args, 3, "slotsrange"); i > 0 {
		for j := i; j+1 < len(args); j += 2 {
			from, err1 := strconv.Atoi(string(args[j]))
			to, err2 := strconv.Atoi(string(args[j+1]))
			if err1 != nil || err2 != nil {
				break
			}
			ranges = append(ranges, [2]int{from, to})
		}
	}
	a.mu.Lock()
	im := a.imports[shard][job]
	if a.established[shard] == nil {
		a.established[shard] = map[string]int64{}
	}
	a.established[shard][job] = offset - commandLen(args)
	a.mu.Unlock()
	if im != nil {
		// Decided (this admission again after Wait), or restored after a
		// restart.
		if im.skip {
			return a.persist(db, "HSET", importField(shard, job), encodeImport(im))
		}
		return syncer.Admission{Skip: true}
	}
	return syncer.Admission{Wait: func(ctx context.Context) error {
		return a.decideValkey(ctx, shard, &asmImport{job: job, ranges: ranges, source: source})
	}}
}

// decideValkey waits until the job has ended; on success, until the
// exporter's trim of the slots is applied (see the top of the file).
func (a *atomicMigrations) decideValkey(ctx context.Context, shard string, im *asmImport) error {
	log := a.log.With(zap.String("shard", shard), zap.String("job", im.job), zap.String("slots", formatRanges(im.ranges)))
	log.Info("an atomic slot migration into this shard began: its stream waits until the migration ends")
	exporter := a.shardOf(im.source)
	start := time.Now()
	var state string
	for {
		s, err := a.hooks.jobState(ctx, shard, im.job)
		if (err != nil || s == "") && exporter != "" {
			s, err = a.hooks.jobState(ctx, exporter, im.job)
		}
		if err == nil && finalJobState(s) {
			state = s
			break
		}
		if time.Since(start) > 10*time.Minute && s == "" {
			return fmt.Errorf("atomic slot migration %s into shard %s (slots %s): neither master knows the job any more, so the sync "+
				"cannot tell whether it succeeded: stopping before the moved slots are applied twice or lost; sync afresh "+
				"(remove the checkpoints %s* from the target and start again with flush-target)",
				im.job, shard, formatRanges(im.ranges), strings.TrimSuffix(a.hash, "asm"))
		}
		if err := retry.Sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	if state != "success" {
		log.Info("the atomic slot migration did not succeed: the importer's writes to its slots are left out", zap.String("state", state))
		im.skip = true
		a.setImport(shard, im)
		return nil
	}
	if exporter != "" {
		if _, linked := a.hooks.applied(exporter); linked {
			if err := a.waitTrimmed(ctx, log, exporter, im); err != nil {
				return err
			}
		}
	}
	log.Info("the atomic slot migration succeeded and the exporter's trim is applied: applying the importer's copy of the slots")
	a.setImport(shard, im)
	return nil
}

// waitTrimmed waits until the exporter's link has applied the trim of the
// job's slots: the offset its master had once it held none of their keys,
// or, when the slots came back to it before that could be seen, the start
// of the import that brought them back (its trim is before: the exporter
// imports only into slots it holds nothing of).
func (a *atomicMigrations) waitTrimmed(ctx context.Context, log *zap.Logger, exporter string, im *asmImport) error {
	warned := time.Now()
	target := int64(-1)
	for {
		if target < 0 {
			if off, ok, err := a.hooks.drained(ctx, exporter, im.ranges); err == nil && ok {
				target = off
			}
		}
		got, linked := a.hooks.applied(exporter)
		if !linked || target >= 0 && got >= target {
			return nil
		}
		if later, err := a.hooks.later(ctx, exporter, im.job, im.ranges); err == nil {
			a.mu.Lock()
			for _, j := range later {
				if start, ok := a.established[exporter][j]; ok && got >= start {
					a.mu.Unlock()
					return nil
				}
			}
			a.mu.Unlock()
		}
		if time.Since(warned) > 30*time.Second {
			log.Warn("waiting until the exporting shard's link has applied the deletion of the moved slots' keys",
				zap.String("exporter", exporter), zap.Int64("applied", got), zap.Int64("want", target))
			warned = time.Now()
		}
		if err := retry.Sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
}

// commandLen is the length of args as a RESP array of bulk strings.
func commandLen(args [][]byte) int64 {
	n := int64(len(strconv.Itoa(len(args))) + 3)
	for _, a := range args {
		n += int64(len(strconv.Itoa(len(a))) + 5 + len(a))
	}
	return n
}

// overlaps: some slot is in both.
func overlaps(a, b [][2]int) bool {
	for _, x := range a {
		for _, y := range b {
			if x[0] <= y[1] && y[0] <= x[1] {
				return true
			}
		}
	}
	return false
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
	if a.imports[shard] == nil {
		a.imports[shard] = map[string]*asmImport{}
	}
	a.imports[shard][im.job] = im
}

func (a *atomicMigrations) valkeyFinish(shard string, args [][]byte, db int) syncer.Admission {
	job, _ := option(args, 3, "name")
	a.mu.Lock()
	im := a.imports[shard][job]
	if im == nil {
		a.mu.Unlock()
		return syncer.Admission{Skip: true}
	}
	delete(a.imports[shard], job)
	a.mu.Unlock()
	if im.skip {
		return a.persist(db, "HDEL", importField(shard, job))
	}
	return syncer.Admission{Skip: true}
}

// redisTask follows CLUSTER SYNCSLOTS CONF ASM-TASK
// <task>:<source id>:<dest id>:<import|migrate>:<state>:<ranges>.
func (a *atomicMigrations) redisTask(shard, desc string, db int, offset int64) (syncer.Admission, error) {
	parts := strings.Split(desc, ":")
	if len(parts) < 6 {
		return syncer.Admission{}, fmt.Errorf("CLUSTER SYNCSLOTS CONF ASM-TASK %q: not the form <task>:<source>:<dest>:<operation>:<state>:<slots> "+
			"this redferry knows: stopping before the moving slots are applied twice or lost; report it with the server's version", desc)
	}
	task, source, op, state := parts[0], parts[1], parts[3], parts[4]
	ranges := parseRanges(strings.Join(parts[5:], ":"))
	switch op {
	case "migrate":
		if state != "completed" {
			return syncer.Admission{Skip: true}, nil
		}
		a.mu.Lock()
		a.marks[task] = asmMark{shard: shard, offset: offset}
		a.mu.Unlock()
		return a.persist(db, "HSET", "mark:"+task, shard+"|"+strconv.FormatInt(offset, 10)), nil
	case "import":
	default:
		return syncer.Admission{Skip: true}, nil
	}
	a.mu.Lock()
	im := a.imports[shard][task]
	switch state {
	case "completed":
		if im == nil {
			a.mu.Unlock()
			return syncer.Admission{Skip: true}, nil
		}
		if !im.waited {
			a.mu.Unlock()
			return syncer.Admission{Wait: func(ctx context.Context) error {
				if err := a.waitMark(ctx, shard, task, source); err != nil {
					return err
				}
				a.mu.Lock()
				im.waited = true
				a.mu.Unlock()
				return nil
			}}, nil
		}
		delete(a.imports[shard], task)
		delete(a.marks, task)
		a.mu.Unlock()
		a.log.Info("an atomic slot migration into this shard completed: its writes to the slots are applied from here on",
			zap.String("shard", shard), zap.String("task", task), zap.String("slots", formatRanges(im.ranges)))
		return a.persist(db, "HDEL", importField(shard, task), "mark:"+task), nil
	case "failed", "canceled", "cancelled":
		if im == nil {
			a.mu.Unlock()
			return syncer.Admission{Skip: true}, nil
		}
		delete(a.imports[shard], task)
		a.mu.Unlock()
		a.log.Info("an atomic slot migration into this shard did not complete", zap.String("shard", shard),
			zap.String("task", task), zap.String("state", state))
		return a.persist(db, "HDEL", importField(shard, task)), nil
	}
	exporter := a.nodes[source]
	a.mu.Unlock()
	if im != nil {
		return syncer.Admission{Skip: true}, nil
	}
	if _, followed := a.hooks.applied(exporter); !followed {
		// This sync does not follow the exporter: the importer's copy is
		// all the target gets of the slots.
		return syncer.Admission{Skip: true}, nil
	}
	im = &asmImport{job: task, ranges: ranges, source: source, skip: true}
	a.setImport(shard, im)
	a.log.Info("an atomic slot migration into this shard began: its writes to the slots are left out until it completes "+
		"(the exporter's stream has them)", zap.String("shard", shard), zap.String("task", task), zap.String("slots", formatRanges(ranges)))
	return a.persist(db, "HSET", importField(shard, task), encodeImport(im)), nil
}

// waitMark waits until the exporter's link has applied its completed mark
// of task (at once when no link follows the exporter).
func (a *atomicMigrations) waitMark(ctx context.Context, shard, task, source string) error {
	log := a.log.With(zap.String("shard", shard), zap.String("task", task))
	warned := time.Now()
	for {
		a.mu.Lock()
		mark, ok := a.marks[task]
		exporter := a.nodes[source]
		a.mu.Unlock()
		if ok {
			return a.waitApplied(ctx, log, mark.shard, mark.offset)
		}
		if exporter == "" {
			return nil
		}
		if _, linked := a.hooks.applied(exporter); !linked {
			return nil
		}
		if time.Since(warned) > 30*time.Second {
			log.Warn("the importing shard waits until the exporting shard's stream reaches the end of the migration", zap.String("exporter", exporter))
			warned = time.Now()
		}
		if err := retry.Sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
}

// persist applies cmd to the asm hash in db 0 of the target, in the
// transaction of the batch reaching this point of the stream (alone: PING
// stands for the framing command, which the target does not take).
func (a *atomicMigrations) persist(db int, cmd string, args ...string) syncer.Admission {
	c := append([]string{cmd, a.hash}, args...)
	before := [][]string{c}
	if t := a.hooks.targetDB(db); t != 0 {
		before = [][]string{{"SELECT", "0"}, c, {"SELECT", strconv.Itoa(t)}}
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
			shard, off, ok := strings.Cut(v, "|")
			n, err := strconv.ParseInt(off, 10, 64)
			if ok && err == nil {
				a.marks[strings.TrimPrefix(f, "mark:")] = asmMark{shard: shard, offset: n}
			}
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

// finalJobState: a Valkey job in this state has ended.
func finalJobState(s string) bool {
	switch s {
	case "success", "failed", "cancelled", "canceled":
		return true
	}
	return false
}
