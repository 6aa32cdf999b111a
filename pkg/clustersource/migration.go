package clustersource

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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
//
// A key the importing master creates itself while it takes the slot over
// (a client's write redirected by ASK because the key was not at the
// exporter, or a write right after the handoff) has no value to import:
// the exporter's stream may still hold older writes of it (its DEL, say)
// that must land first. The importer's link then catches up before the
// write (shardGate.catchUp): it waits until the exporters' links have
// applied their masters' streams as they stand once the write has been
// received, which holds every write the exporters made before it.

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

// movedRec: a shard takes a slot over (imports into it, writes to it
// without owning it, or was lately seen as its new owner).
type movedRec struct {
	at   time.Time
	from string // the slot's owner before, when known
	// fromOffset: from's master offset once the topology showed the
	// handoff (0: not yet). from's writes to the slot up to it may be
	// late ones, from before the handoff; past it, from takes the slot
	// back.
	fromOffset int64
	marks      map[string]int64 // see migrations.expired
}

type importRec struct {
	shard string
	at    time.Time
	// marks: the other shards' received offsets noted grace after the
	// import (see expired).
	marks map[string]int64
}

// linkHooks is what the gate asks of the links of the other shards.
type linkHooks struct {
	// othersStreaming reports whether every link other than shard's has
	// its snapshot applied (an import must not overtake another's
	// snapshot).
	othersStreaming func(shard string) bool
	// waitOthersApplied waits until every other shard has applied what it
	// has received (see shardGate.BeforeSnapshot).
	waitOthersApplied func(ctx context.Context, shard string) error
	// catchUp waits until the links of exporters (every other shard when
	// empty) have applied their masters' streams as they stand now (or up
	// to the offset given, when lower), and
	// returns the offset shard's link had received before it asked: the
	// commands of shard up to it come after every write the exporters
	// made before them. errCatchUpCycle: the exporters wait for shard.
	catchUp func(ctx context.Context, shard string, exporters map[string]int64) (covered int64, err error)
}

// errCatchUpCycle: the shards a catch-up waits for are themselves waiting
// in catch-ups (slots moving both ways at once).
var errCatchUpCycle = errors.New("the shards to catch up with are waiting for this one")

// migrations is shared by the links of one process.
type migrations struct {
	log *zap.Logger
	// gate: every stream batch holds it shared, an import exclusively.
	gate sync.RWMutex

	mu      sync.Mutex
	imports map[importKey]importRec
	linkHooks
	// catchingUp: the shards whose links wait in a catch-up, or for the
	// others before a late snapshot.
	catchingUp map[string]bool
	cycles     atomic.Int64 // catch-ups that found their exporters waiting
	base       string       // the checkpoint key's base, of the record hashes' names
	tags       *[server.SlotCount]string
	skipped    map[string]int64 // commands left out, by shard
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

func newMigrations(log *zap.Logger, checkpointBase string, hooks linkHooks) *migrations {
	return &migrations{log: log, imports: map[importKey]importRec{}, linkHooks: hooks, catchingUp: map[string]bool{},
		base: checkpointBase, tags: server.SlotTags(), skipped: map[string]int64{},
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
	// caughtUpTo: the stream offset up to which a catch-up has covered
	// this shard's writes to slots it takes over. importsTo: up to which
	// they go as imports instead, a catch-up having found the exporters
	// waiting for this shard (see catchUp).
	caughtUpTo, importsTo int64
	// inMulti: inside a source MULTI, whose batch cannot be cut for a
	// catch-up (it holds the gate).
	inMulti bool
}

// BeforeSnapshot lets a late shard's snapshot wait until every other shard
// has applied what it had received a moment after the snapshot was taken:
// the exporters' DELs of the keys moved before it are then applied, and the
// snapshot restores those keys after them.
func (g *shardGate) BeforeSnapshot(ctx context.Context) error {
	if !g.late {
		return nil
	}
	// A catch-up waiting for this shard must not wait for this wait.
	g.m.setCatchingUp(g.shard, true)
	defer g.m.setCatchingUp(g.shard, false)
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
	case "multi":
		g.inMulti = true
	case "exec", "discard":
		g.inMulti = false
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
		slot := server.KeySlot(args[1])
		g.m.noteMovingIn(g.shard, slot, g.m.otherOwner(slot, g.shard))
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
	var moved, retaken []int
	for _, i := range idx {
		rec, ok := g.m.imports[importKey{db, string(args[i])}]
		if !ok || rec.shard == g.shard {
			continue
		}
		// A key imported from this shard, in a slot it now takes back:
		// its write is a new one, not a late one.
		if mv := g.takingOver(server.KeySlot(args[i]), offset); mv != nil && mv.from == rec.shard {
			retaken = append(retaken, i)
			continue
		}
		moved = append(moved, i)
	}
	if len(moved) == 0 {
		movingIn := g.movingInKeys(args, idx, db, offset)
		if len(movingIn) == 0 {
			return syncer.Admission{}, nil
		}
		if offset <= g.caughtUpTo {
			if len(retaken) > 0 {
				return g.recorded(args, retaken, db), nil
			}
			return syncer.Admission{}, nil
		}
		if w, ok := g.waitSnapshots(); ok {
			return w, nil
		}
		if g.inMulti || offset <= g.importsTo {
			// No catch-up possible: the write goes as an import.
			return g.firstWrites(args, movingIn, db), nil
		}
		return g.catchUp(offset, g.m.exportersOf(args, movingIn, g.shard)), nil
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

// movingInKeys returns the positions of the keys of slots this shard takes
// over (takingOver), other than those it imported (whose exporter's late
// writes are left out by their record): a key the exporting shard's stream
// may still hold older writes of (a DEL, say) that must not land after
// this one. With m.mu held.
func (g *shardGate) movingInKeys(args [][]byte, idx []int, db int, offset int64) []int {
	var out []int
	for _, i := range idx {
		if g.takingOver(server.KeySlot(args[i]), offset) == nil {
			continue
		}
		k := importKey{db, string(args[i])}
		if rec, ok := g.m.imports[k]; ok && rec.shard == g.shard || g.m.pending[g.shard][k] {
			continue
		}
		out = append(out, i)
	}
	return out
}

// takingOver returns the record of this shard taking slot over, nil when
// it does not: it does once it imports into the slot, writes to it while
// another shard owns it (a write redirected by ASK, or one after a handoff
// the topology does not show yet) other than a late write of a slot it
// gave away, or is seen as its new owner; until expired. Slots of atomic
// migrations are left to their own rules. With m.mu held.
func (g *shardGate) takingOver(slot int, offset int64) *movedRec {
	rec := g.m.movedIn[slot][g.shard]
	other := g.m.otherOwner(slot, g.shard)
	if rec == nil && (other == "" || g.m.gaveAway(slot, g.shard, offset)) {
		return nil
	}
	if g.m.asm.movedLately(slot) {
		return nil
	}
	if rec == nil {
		g.m.noteMovingIn(g.shard, slot, other)
		rec = g.m.movedIn[slot][g.shard]
	}
	return rec
}

// recorded applies a shard's write of keys it takes back once caught up
// (retaken: the target's record names the shard it takes them from),
// recording them as its own, so that the other shard's writes of them
// are left out from then on, as after an import. With m.mu held.
func (g *shardGate) recorded(args [][]byte, retaken []int, db int) syncer.Admission {
	adm := syncer.Admission{Alone: true, DB: db}
	for _, i := range retaken {
		adm.Keys = append(adm.Keys, bytes.Clone(args[i]))
		adm.Extra = append(adm.Extra, g.m.recordCommand(db, args[i], g.shard))
		g.m.addPending(g.shard, importKey{db, string(args[i])})
	}
	return adm
}

// catchUp holds the write at offset back until the exporters' links have
// applied what their masters had once it was received (see linkHooks).
// When they wait for this shard themselves (slots moving both ways), this
// write and every other received so far to slots this shard takes over go
// as imports instead (firstWrites): this shard's link then gets past the
// point the others wait for without waiting again.
func (g *shardGate) catchUp(offset int64, exporters map[string]int64) syncer.Admission {
	return syncer.Admission{Wait: func(ctx context.Context) error {
		g.m.setCatchingUp(g.shard, true)
		defer g.m.setCatchingUp(g.shard, false)
		covered, err := g.m.linkHooks.catchUp(ctx, g.shard, exporters)
		// The write itself was received before the catch-up began.
		covered = max(covered, offset)
		switch {
		case errors.Is(err, errCatchUpCycle):
			g.m.log.Info("slots move both ways at once: the writes to slots this shard takes over go as imports",
				zap.String("shard", g.shard), zap.Int64("from_offset", offset), zap.Int64("to_offset", covered))
			g.importsTo = covered
			g.m.cycles.Add(1)
			return nil
		case err != nil:
			return err
		}
		g.caughtUpTo = covered
		return nil
	}}
}

func (m *migrations) setCatchingUp(shard string, on bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if on {
		m.catchingUp[shard] = true
	} else {
		delete(m.catchingUp, shard)
	}
}

// isCatchingUp reports whether shard's link waits in a catch-up (or for
// the others before a late snapshot).
func (m *migrations) isCatchingUp(shard string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.catchingUp[shard]
}

// otherOwner returns the slot's owner when it is known and not shard.
// With m.mu held.
func (m *migrations) otherOwner(slot int, shard string) string {
	if o := m.owners[slot]; o != shard {
		return o
	}
	return ""
}

// gaveAway reports whether another shard took slot over from shard
// lately, and shard's write at offset may be from before that. With m.mu
// held.
func (m *migrations) gaveAway(slot int, shard string, offset int64) bool {
	for _, rec := range m.movedIn[slot] {
		if rec.from == shard && (rec.fromOffset == 0 || offset <= rec.fromOffset) {
			return true
		}
	}
	return false
}

// exportersOf returns the shards the keys at idx may be moving from, each
// with the offset of its master's stream up to which a catch-up waits for
// it (0: as far as its master is now): their slots' owners other than
// shard, and the shards that took those slots over lately and the owners
// before them (a slot moved twice). A shard the topology showed giving a
// slot away is waited for up to its master's offset then (fromOffset):
// past it, its writes may be of the slot taken back, later than the write
// waiting. Empty when none is known: every other shard then. With m.mu
// held.
func (m *migrations) exportersOf(args [][]byte, idx []int, shard string) map[string]int64 {
	out := map[string]int64{}
	unbounded := map[string]bool{}
	add := func(s string, upTo int64) {
		if s == shard || s == "" {
			return
		}
		if upTo == 0 {
			unbounded[s] = true
		}
		out[s] = max(out[s], upTo)
	}
	for _, i := range idx {
		slot := server.KeySlot(args[i])
		add(m.owners[slot], 0)
		for s, rec := range m.movedIn[slot] {
			if m.owners[slot] == s {
				add(s, 0)
			}
			add(rec.from, rec.fromOffset)
		}
	}
	for s := range unbounded {
		out[s] = 0
	}
	return out
}

// firstWrites applies a shard's first writes of keys moving to it as
// imports, when it cannot catch up first: alone, after deleting whatever
// the target holds of those keys (the source held nothing of them: the
// client's write was redirected because the key was not at the exporter),
// and recorded, so that the exporter's late writes of them are left out.
// With m.mu held.
func (g *shardGate) firstWrites(args [][]byte, fresh []int, db int) syncer.Admission {
	adm := g.recorded(args, fresh, db)
	for _, i := range fresh {
		adm.Before = append(adm.Before, []string{"DEL", string(args[i])})
	}
	return adm
}

// noteMovingIn records that shard takes slot over now, from from ("":
// not known). With m.mu held.
func (m *migrations) noteMovingIn(shard string, slot int, from string) {
	if m.movedIn[slot] == nil {
		m.movedIn[slot] = map[string]*movedRec{}
	}
	rec := m.movedIn[slot][shard]
	if rec != nil && from == "" {
		from = rec.from
	}
	if rec != nil && rec.from == from {
		rec.at = time.Now() // still the same move
	} else {
		m.movedIn[slot][shard] = &movedRec{at: time.Now(), from: from}
	}
	// The shard it moves from no longer takes it over (a slot moved
	// back): its writes there are now late ones (gaveAway).
	delete(m.movedIn[slot], from)
}

func (m *migrations) addPending(shard string, k importKey) {
	if m.pending[shard] == nil {
		m.pending[shard] = map[importKey]bool{}
	}
	m.pending[shard][k] = true
}

// setOwners takes the slot owners of a new topology read. A change counts
// once two reads in a row agree on it: during a failover the nodes' views
// differ for a moment. It returns the changes it confirmed, for
// noteHandoffs.
func (m *migrations) setOwners(owners [16384]string) (handoffs []handoff) {
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
			// The new owner's writes there may overtake the old
			// owner's stream for a while yet.
			m.noteMovingIn(owner, slot, old)
			handoffs = append(handoffs, handoff{slot: slot, from: old, to: owner})
		}
	}
	return handoffs
}

// handoff: a slot the topology shows moved.
type handoff struct {
	slot     int
	from, to string
}

// givers lists the shards that gave slots away in handoffs.
func givers(handoffs []handoff) []string {
	var out []string
	for _, h := range handoffs {
		if !slices.Contains(out, h.from) {
			out = append(out, h.from)
		}
	}
	return out
}

// noteHandoffs takes the master offsets of the shards that gave the slots
// of handoffs away, read after the topology showed it: each bounds where
// that shard's late writes to those slots can be (movedRec.fromOffset).
func (m *migrations) noteHandoffs(handoffs []handoff, offsets map[string]int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, h := range handoffs {
		if rec := m.movedIn[h.slot][h.to]; rec != nil && rec.from == h.from {
			rec.fromOffset = offsets[h.from]
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
