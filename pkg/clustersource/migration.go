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

// Keys migrating between masters the classic way (MIGRATE, as redis-cli
// --cluster reshard does) arrive through two streams: the importing master's
// carries RESTORE-ASKING with the key's whole value, the exporting master's
// carries the key's earlier writes and then a DEL of it. The links apply
// their streams in parallel, so without care a late DEL would delete the
// moved key, or a late INCR would be counted twice.
//
// migrations orders them. Each import is applied alone while every other
// shard's batches are held back (the gate, exclusive), and then recorded:
// from then on the other shards' writes to that key are left out, their
// effect being in the imported value already. The record is kept in the
// target too, in the same transaction as the import, so it survives a
// restart. It is dropped once every other shard has applied its master's
// offset noted a while after the import (see expired).

// The imports are recorded in one target hash per slot, <base>:imports{tag}
// with the tag of the imported key's slot, in the key's db: the record then
// lives with the key, in the same MULTI as its RESTORE on a cluster target
// too (a transaction there must stay within one slot), and moves with it
// when the target's slots move. Its name starts with the checkpoint
// prefix, so verify leaves it out.

// importsPrefix is the part of every record hash's name before its tag.
func importsPrefix(checkpointBase string) string { return checkpointBase + ":imports" }

// importsPattern matches every record hash of checkpointBase (SCAN MATCH).
func importsPattern(checkpointBase string) string {
	return globEscape(importsPrefix(checkpointBase)) + "{*}"
}

// isImportsKey reports whether key is a record hash of checkpointBase.
func isImportsKey(checkpointBase, key string) bool {
	return strings.HasPrefix(key, importsPrefix(checkpointBase)+"{") && strings.HasSuffix(key, "}")
}

// importsKeyFor is the record hash of key's slot.
func importsKeyFor(checkpointBase string, tags *[server.SlotCount]string, key []byte) string {
	return importsPrefix(checkpointBase) + "{" + tags[server.KeySlot(key)] + "}"
}

type importKey struct {
	db  int
	key string
}

// movedRec: when a shard last imported a key into a slot.
type movedRec struct {
	at    time.Time
	marks map[string]int64 // see migrations.expired
}

type importRec struct {
	shard string
	at    time.Time
	// marks: the other shards' received offsets noted grace after the
	// import (see expired).
	marks map[string]int64
}

// migrations is shared by the links of one process.
type migrations struct {
	log *zap.Logger
	// gate: every stream batch holds it shared, an import exclusively.
	gate sync.RWMutex

	mu      sync.Mutex
	imports map[importKey]importRec
	// streaming reports whether every link other than shard has its
	// snapshot applied (an import must not overtake another's snapshot).
	othersStreaming func(shard string) bool
	// waitOthersApplied waits until every other shard has applied what it
	// has received (see shardGate.BeforeSnapshot).
	waitOthersApplied func(ctx context.Context, shard string) error
	base              string // the checkpoint key's base, of the record hashes' names
	tags              *[server.SlotCount]string
	skipped           map[string]int64 // commands left out, by shard
	// owners: the shard serving each slot, from the last topology read
	// ("" before the first). movedIn: the slots a shard writes without
	// owning them yet (it imports them), or owned only lately.
	owners  [16384]string
	seen    [16384]string // a new owner seen once, not yet confirmed
	movedIn map[int]map[string]*movedRec
	// pending: keys recorded by a batch not applied yet, by shard.
	pending map[string]map[importKey]bool
	// asm follows atomic slot migrations (atomic_migration.go).
	asm *atomicMigrations
	// halted: a shard met what the sync cannot follow; every shard stops
	// applying at once, not when the supervisor gets to it.
	halted error
}

// halt records err for every shard and returns it.
func (m *migrations) halt(err error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.halted == nil {
		m.halted = err
	}
	return err
}

func (m *migrations) haltedErr() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.halted != nil {
		return fmt.Errorf("stopping with another shard: %w", m.halted)
	}
	return nil
}

func newMigrations(log *zap.Logger, checkpointBase string, othersStreaming func(string) bool,
	waitOthersApplied func(context.Context, string) error) *migrations {
	return &migrations{log: log, imports: map[importKey]importRec{}, othersStreaming: othersStreaming,
		waitOthersApplied: waitOthersApplied, base: checkpointBase, tags: server.SlotTags(), skipped: map[string]int64{},
		movedIn: map[int]map[string]*movedRec{}, pending: map[string]map[importKey]bool{},
		asm: newAtomicMigrations(log, checkpointBase, asmHooks{})}
}

// forShard is the syncer.StreamGate of one link.
func (m *migrations) forShard(shard string, late bool) syncer.StreamGate {
	return &shardGate{m: m, shard: shard, late: late}
}

type shardGate struct {
	m     *migrations
	shard string
	// asmAlone: the Alone admission Exclusive is taken for is an atomic
	// migration's record, not a moved key (see Exclusive).
	asmAlone bool
	// late: the shard joined a running sync (a master added), so its
	// snapshot may hold keys moved to it whose last writes are still in
	// the other shards' streams.
	late bool
}

// BeforeSnapshot lets a late shard's snapshot wait until every other shard
// has applied what it had received a moment after the snapshot was taken:
// the exporters' DELs of the keys moved before it are then applied, and the
// snapshot restores those keys after them.
func (g *shardGate) BeforeSnapshot(ctx context.Context) error {
	if !g.late {
		return nil
	}
	if err := g.m.waitOthersApplied(ctx, g.shard); err != nil {
		return err
	}
	return g.m.asm.settleImports(ctx, g.shard)
}

func (g *shardGate) Shared(context.Context) (func(), error) {
	g.m.gate.RLock()
	return g.m.gate.RUnlock, nil
}

func (g *shardGate) Exclusive(ctx context.Context) (func([]syncer.Admission), error) {
	// An import must not land before another shard's snapshot, which may
	// hold the key's value from before the move. An atomic migration's
	// record need not wait: a late shard's snapshot may be waiting for
	// this very batch (BeforeSnapshot), and a moved key joining the batch
	// has waited in Admit (waitSnapshots).
	asmAlone := g.asmAlone
	g.asmAlone = false
	waitStart := time.Now()
	warned := false
	for !asmAlone && !g.m.othersStreaming(g.shard) {
		if !warned && time.Since(waitStart) > 10*time.Second {
			g.m.log.Warn("keys moved to this shard wait until every other shard has applied its snapshot", zap.String("shard", g.shard))
			warned = true
		}
		if err := retry.Sleep(ctx, 50*time.Millisecond); err != nil {
			return nil, err
		}
	}
	g.m.gate.Lock()
	return func(applied []syncer.Admission) {
		g.m.mu.Lock()
		for _, a := range applied {
			for _, k := range a.Keys {
				ik := importKey{a.DB, string(k)}
				g.m.imports[ik] = importRec{shard: g.shard, at: time.Now()}
				delete(g.m.pending[g.shard], ik)
			}
		}
		g.m.mu.Unlock()
		g.m.gate.Unlock()
	}, nil
}

func (g *shardGate) Admit(_ context.Context, args [][]byte, db int, offset int64) (syncer.Admission, error) {
	if err := g.m.haltedErr(); err != nil {
		return syncer.Admission{}, err
	}
	name := strings.ToLower(string(args[0]))
	switch name {
	case "restore-asking":
		if len(args) < 4 {
			return syncer.Admission{}, nil
		}
		if w, ok := g.waitSnapshots(); ok {
			return w, nil
		}
		// The key outlives this command's buffer: it is recorded once the
		// batch it joins is applied.
		g.m.mu.Lock()
		g.m.noteMovingIn(g.shard, server.KeySlot(args[1]))
		g.m.addPending(g.shard, importKey{db, string(args[1])})
		g.m.mu.Unlock()
		return syncer.Admission{Alone: true, Keys: [][]byte{bytes.Clone(args[1])}, DB: db, Args: restoreReplacing(args),
			Extra: [][]string{g.m.recordCommand(db, args[1], g.shard)}}, nil
	case "flushall", "flushdb", "swapdb":
		return syncer.Admission{}, g.m.halt(fmt.Errorf("%s at offset %d of shard %s: a cluster master's %s covers its own slots only, "+
			"which the target cannot tell apart from the other shards' keys: stopping. Run it on the target by hand if that is what you want, "+
			"then resume", strings.ToUpper(name), offset, g.shard, strings.ToUpper(name)))
	}
	if adm, handled, err := g.m.asm.admit(g.shard, args, db, offset); handled || err != nil {
		if err != nil {
			return adm, g.m.halt(fmt.Errorf("stream offset %d of shard %s: %w", offset, g.shard, err))
		}
		g.asmAlone = adm.Alone
		return adm, nil
	}
	if name == "cluster" {
		// Topology bookkeeping some servers replicate (Valkey 8+ sends
		// CLUSTER SETSLOT to its replicas): nothing for a target to apply.
		return syncer.Admission{Skip: true}, nil
	}
	idx, ok := transform.TouchedKeys(args)
	if !ok {
		return syncer.Admission{}, nil
	}
	g.m.mu.Lock()
	defer g.m.mu.Unlock()
	var moved []int
	for _, i := range idx {
		if rec, ok := g.m.imports[importKey{db, string(args[i])}]; ok && rec.shard != g.shard {
			moved = append(moved, i)
		}
	}
	if len(moved) == 0 {
		if fresh := g.freshKeys(args, idx, db); len(fresh) > 0 {
			if w, ok := g.waitSnapshots(); ok {
				return w, nil
			}
			return g.firstWrites(args, fresh, db), nil
		}
		return syncer.Admission{}, nil
	}
	g.m.skipped[g.shard]++
	// The record stays after the exporter's DEL: a DEL of the key before
	// the move (a client's) looks the same, and the writes that follow it
	// in the exporter's stream are in the imported value too. It expires
	// by offsets (expired).
	if (name == "del" || name == "unlink") && len(moved) < len(idx) {
		out := [][]byte{args[0]}
		for _, i := range idx {
			if !contains(moved, i) {
				out = append(out, args[i])
			}
		}
		return syncer.Admission{Args: out}, nil
	}
	return syncer.Admission{Skip: true}, nil
}

// waitSnapshots holds a moved key back (Wait) while another shard applies
// its snapshot: the key may join a batch made exclusive for an atomic
// migration's record, which did not wait (Exclusive). m.mu may be held.
func (g *shardGate) waitSnapshots() (syncer.Admission, bool) {
	if g.m.othersStreaming(g.shard) {
		return syncer.Admission{}, false
	}
	return syncer.Admission{Wait: func(ctx context.Context) error {
		for !g.m.othersStreaming(g.shard) {
			if err := retry.Sleep(ctx, 50*time.Millisecond); err != nil {
				return err
			}
		}
		return nil
	}}, true
}

// freshKeys returns the positions of the keys this shard writes for the
// first time in a slot it imports (its stream brought RESTORE-ASKING there,
// and the topology does not show it as the slot's owner yet): a key a
// client created there through an ASK redirect, which the exporting shard's
// stream may still hold older writes of (a DEL, say) that must not land
// after it. With m.mu held.
func (g *shardGate) freshKeys(args [][]byte, idx []int, db int) []int {
	var fresh []int
	for _, i := range idx {
		slot := server.KeySlot(args[i])
		if g.m.movedIn[slot][g.shard] == nil || g.m.owners[slot] == g.shard {
			continue
		}
		k := importKey{db, string(args[i])}
		if rec, ok := g.m.imports[k]; ok && rec.shard == g.shard || g.m.pending[g.shard][k] {
			continue
		}
		fresh = append(fresh, i)
	}
	return fresh
}

// firstWrites applies a shard's first writes of keys moving to it as
// imports: alone, after deleting whatever the target holds of those keys
// (the source held nothing of them: the client's write was redirected
// because the key was not at the exporter), and recorded, so that the
// exporter's late writes of them are left out. With m.mu held.
func (g *shardGate) firstWrites(args [][]byte, fresh []int, db int) syncer.Admission {
	adm := syncer.Admission{Alone: true, DB: db}
	for _, i := range fresh {
		adm.Keys = append(adm.Keys, bytes.Clone(args[i]))
		adm.Before = append(adm.Before, []string{"DEL", string(args[i])})
		adm.Extra = append(adm.Extra, g.m.recordCommand(db, args[i], g.shard))
		g.m.addPending(g.shard, importKey{db, string(args[i])})
	}
	return adm
}

// noteMovingIn records that shard imports into slot now. With m.mu held.
func (m *migrations) noteMovingIn(shard string, slot int) {
	if m.movedIn[slot] == nil {
		m.movedIn[slot] = map[string]*movedRec{}
	}
	m.movedIn[slot][shard] = &movedRec{at: time.Now()}
}

func (m *migrations) addPending(shard string, k importKey) {
	if m.pending[shard] == nil {
		m.pending[shard] = map[importKey]bool{}
	}
	m.pending[shard][k] = true
}

// setOwners takes the slot owners of a new topology read. A change counts
// once two reads in a row agree on it: during a failover the nodes' views
// differ for a moment.
func (m *migrations) setOwners(owners [16384]string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for slot, owner := range owners {
		old := m.owners[slot]
		switch {
		case old == owner:
			m.seen[slot] = ""
		case old == "":
			m.owners[slot] = owner
		case owner == "":
		case m.seen[slot] != owner:
			m.seen[slot] = owner // confirmed by the next read, or not
		default:
			m.seen[slot] = ""
			m.owners[slot] = owner
		}
	}
}

// restoreReplacing turns RESTORE-ASKING into a RESTORE … REPLACE: the
// target may hold the key already, from the exporting shard's stream.
func restoreReplacing(args [][]byte) [][]byte {
	out := [][]byte{[]byte("RESTORE")}
	out = append(out, args[1:]...)
	for _, a := range args[4:] {
		if bytes.EqualFold(a, []byte("replace")) {
			return out
		}
	}
	return append(out, []byte("REPLACE"))
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// recordCommand records that shard imported key (in db), in the hash of
// the key's slot.
func (m *migrations) recordCommand(db int, key []byte, shard string) []string {
	return []string{"HSET", importsKeyFor(m.base, m.tags, key), recordField(db, key), shard}
}

func recordField(db int, key []byte) string { return strconv.Itoa(db) + ":" + string(key) }

// load reads the imports recorded in the target (after a restart).
func (m *migrations) load(recs map[importKey]string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, shard := range recs {
		m.imports[k] = importRec{shard: shard, at: time.Now()}
	}
}

// expired removes and returns the imports whose exporting shard has
// surely applied (or left out) its last writes of the key. grace after the
// import, every other master's master_repl_offset is noted: the exporter's
// DEL of the key, sent right after the import on the source, is before it.
// Once each shard has applied that far, no write of the key from before
// the move is left to leave out. progress gives each running shard's
// received and applied offsets; masterOffsets each shard's master's offset
// now (nil when a master cannot tell).
func (m *migrations) expired(grace time.Duration, progress map[string][2]int64, masterOffsets func() map[string]int64) []importKey {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []importKey
	var offsets map[string]int64
	for k, rec := range m.imports {
		if time.Since(rec.at) < grace {
			continue
		}
		if rec.marks == nil {
			if offsets == nil {
				if offsets = masterOffsets(); offsets == nil {
					return out
				}
			}
			rec.marks = map[string]int64{}
			for s := range progress {
				if s != rec.shard {
					off, ok := offsets[s]
					if !ok {
						rec.marks = nil
						break
					}
					rec.marks[s] = off
				}
			}
			if rec.marks != nil {
				m.imports[k] = rec
			}
			continue
		}
		done := true
		for s, mark := range rec.marks {
			if p, ok := progress[s]; ok && p[1] < mark {
				done = false
			}
		}
		if done {
			delete(m.imports, k)
			out = append(out, k)
		}
	}
	// A slot's first-write mode ends the same way, once its shard owns it.
	for slot, byShard := range m.movedIn {
		for shard, rec := range byShard {
			if m.owners[slot] != shard || time.Since(rec.at) < grace {
				continue
			}
			if rec.marks == nil {
				if offsets == nil {
					if offsets = masterOffsets(); offsets == nil {
						return out
					}
				}
				rec.marks = map[string]int64{}
				for s := range progress {
					if s != shard {
						rec.marks[s] = offsets[s]
					}
				}
				continue
			}
			done := true
			for s, mark := range rec.marks {
				if p, ok := progress[s]; ok && p[1] < mark {
					done = false
				}
			}
			if done {
				delete(byShard, shard)
			}
		}
		if len(byShard) == 0 {
			delete(m.movedIn, slot)
		}
	}
	return out
}

// skippedBy returns how many commands of shard were left out as moved.
func (m *migrations) skippedBy(shard string) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.skipped[shard]
}

// parseField splits a record's field into its db and key.
func parseField(f string) (importKey, bool) {
	i := strings.IndexByte(f, ':')
	if i < 0 {
		return importKey{}, false
	}
	db, err := strconv.Atoi(f[:i])
	if err != nil {
		return importKey{}, false
	}
	return importKey{db, f[i+1:]}, true
}

// skippedTotal returns how many commands were left out as moved, in all.
func (m *migrations) skippedTotal() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var n int64
	for _, v := range m.skipped {
		n += v
	}
	return n
}
