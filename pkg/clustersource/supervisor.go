package clustersource

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/retry"
	"github.com/redferry/redferry/pkg/status"
	"github.com/redferry/redferry/pkg/syncer"
)

// Options configure a cluster source sync.
type Options struct {
	// Sync is the template of every shard's syncer: target, batching,
	// filters, and CheckpointKey, the base of the shards' checkpoint keys
	// (<base>:<shard>). Source.Addr is any node of the source cluster;
	// StateDir holds one sub-directory per shard (shards/<shard>).
	Sync syncer.Options
	// Shards selects masters by index (in Topology order: by first slot),
	// by the node id of any node of the shard, or by shard name; empty: all
	// masters, including those added later.
	Shards []string
	// Poll is how often the topology is read again (default 1 s).
	Poll time.Duration
	// ImportGrace: how long after a key migration its record waits before
	// the masters' offsets are noted for dropping it (default 30 s; see
	// migrations.expired). A slot must not move again before the records
	// of its previous move are dropped.
	ImportGrace time.Duration
	// Tracker receives the totals and, per shard, a tracker of its own
	// (status.Tracker.SetShard). Nil: a new one.
	Tracker *status.Tracker
	Logger  *zap.Logger
}

// Supervisor runs one link per selected master of a cluster source.
type Supervisor struct {
	opt     Options
	log     *zap.Logger
	tracker *status.Tracker
	// namesMu: nameAll runs in the topology loop and in a link's trim
	// (supervisor_trim.go); names is used under it.
	namesMu sync.Mutex
	names   *names
	migr    *migrations
	target  *targetSide

	mu       sync.Mutex
	links    map[string]*link
	selected map[string]bool // shard names chosen by --shards; nil: all
	seeds    []string
	started  bool // the first links run: later shards joined a running sync
	// fresh: shards without a checkpoint when others have one (a shard's
	// checkpoint removed to sync it afresh): their full sync is late too.
	fresh map[string]bool
	// preFresh: the atomic migrations the masters listed when the fresh
	// shards' links started (fresh_exporter.go).
	preFresh map[string]bool
	// postponed: late shards whose link waits for their master's atomic
	// migration to end (logged once).
	postponed map[string]bool
	// overlapFirst: the target held nothing of this sync at start (it was
	// empty or emptied, not merged into): the first links overlap.
	overlapFirst bool
	// lineageWaits: when masters left out of the topology (lineage.go) were first seen.
	lineageWaits map[string]time.Time
	infoClients  infoClients
}

// New checks the options; Run does the work.
func New(opt Options) (*Supervisor, error) {
	if opt.Sync.CheckpointKey == "" {
		return nil, errors.New("a cluster source keeps one checkpoint per shard in the target: set checkpoint = target")
	}
	if opt.Sync.StateDir == "" {
		return nil, errors.New("a state directory is required")
	}
	if opt.Poll <= 0 {
		opt.Poll = time.Second
	}
	if opt.ImportGrace <= 0 {
		opt.ImportGrace = importGrace
	}
	if opt.Logger == nil {
		opt.Logger = zap.NewNop()
	}
	sv := &Supervisor{opt: opt, log: opt.Logger, tracker: opt.Tracker, links: map[string]*link{},
		seeds: []string{opt.Sync.Source.Addr}, fresh: map[string]bool{}, postponed: map[string]bool{}}
	if sv.tracker == nil {
		sv.tracker = status.NewTracker(opt.Sync.SourceName, opt.Sync.TargetName)
	}
	var err error
	if sv.names, err = loadNames(opt.Sync.StateDir); err != nil {
		return nil, err
	}
	sv.migr = newMigrations(sv.log, opt.Sync.CheckpointKey, linkHooks{othersStreaming: sv.othersStreaming,
		waitOthersApplied: sv.waitOthersApplied, catchUp: sv.catchUp})
	sv.migr.asm = newAtomicMigrations(sv.log, opt.Sync.CheckpointKey, sv.asmHooks())
	sv.target = newTargetSide(opt.Sync)
	return sv, nil
}

// Tracker holds the totals and the shards' trackers.
func (sv *Supervisor) Tracker() *status.Tracker { return sv.tracker }

// Close releases the control connections.
func (sv *Supervisor) Close() error {
	sv.infoClients.close()
	return sv.target.close()
}

// Run discovers the masters, starts their links and follows the topology
// until ctx ends (nil), until every link is done (Once), or until a link
// stops on an error that a restart cannot fix.
func (sv *Supervisor) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer sv.stopAll()
	topo, err := sv.discover(ctx, true)
	if err != nil {
		return err
	}
	if err := sv.resolveSelection(ctx, topo); err != nil {
		return err
	}
	if err := sv.prepareTarget(ctx, topo); err != nil {
		return err
	}
	recs, err := sv.target.loadImports(ctx, sv.migr.tags)
	if err != nil {
		return err
	}
	sv.migr.load(recs)
	asm, err := sv.target.loadASM(ctx)
	if err != nil {
		return err
	}
	sv.migr.asm.load(asm)
	if stale := sv.migr.asm.staleMarks(); len(stale) > 0 {
		if err := sv.target.forgetASM(ctx, stale); err != nil {
			return err
		}
		sv.log.Info("removed the records of atomic migrations into shards this sync does not follow", zap.Strings("fields", stale))
	}
	tick := time.NewTicker(sv.opt.Poll)
	defer tick.Stop()
	for {
		if err := sv.reconcile(ctx, topo); err != nil {
			return err
		}
		sv.started = true
		if sv.opt.Sync.Once && sv.allDone() {
			sv.log.Info("every shard has caught up with its master (once)")
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		sv.expireImports(ctx)
		if t, err := sv.discover(ctx, false); err == nil {
			topo = t
		} else if ctx.Err() == nil {
			sv.log.Warn("cannot read the source cluster's topology: the links go on with the last one", zap.Error(err))
		}
	}
}

// discover reads the topology from any node known so far; with wait it
// retries until one answers.
func (sv *Supervisor) discover(ctx context.Context, wait bool) (Topology, error) {
	var bo retry.Backoff
	for {
		sv.mu.Lock()
		seeds := slices.Clone(sv.seeds)
		sv.mu.Unlock()
		topo, err := Discover(ctx, seeds, sv.opt.Sync.Source)
		if err == nil {
			topo = sv.withoutFalseMasters(ctx, topo)
			fetchShardIDs(ctx, &topo, sv.opt.Sync.Source)
			sv.mu.Lock()
			sv.seeds = append([]string{sv.opt.Sync.Source.Addr}, topo.Seeds()...)
			sv.mu.Unlock()
			return topo, nil
		}
		if !wait || ctx.Err() != nil {
			return topo, err
		}
		d := bo.Next()
		sv.log.Warn("the source cluster does not answer: retrying", zap.Error(err), zap.Duration("in", d))
		if err := retry.Sleep(ctx, d); err != nil {
			return topo, err
		}
	}
}

// absentPolls: a shard missing from this many topology reads in a row has
// left the cluster.
const absentPolls = 5

// withoutFalseMasters drops the shards without slots whose master does not
// say it is one: a replica that a node not yet up to date shows as a master
// of its own.
func (sv *Supervisor) withoutFalseMasters(ctx context.Context, topo Topology) Topology {
	out := Topology{}
	for _, s := range topo.Shards {
		if len(s.Slots) == 0 && (s.MasterAddr == "" || !sv.confirmMaster(ctx, s.MasterAddr)) {
			continue
		}
		out.Shards = append(out.Shards, s)
	}
	return out
}

// nameAll names every shard of topo, saving new names, and returns the
// topology without the entries that duplicate a shard (a view taken during
// a failover), with the names in the same order. Shards with a master up
// and slots are named first, so that they keep the name.
func (sv *Supervisor) nameAll(ctx context.Context, topo Topology) (Topology, []string, error) {
	sv.namesMu.Lock()
	defer sv.namesMu.Unlock()
	order := make([]int, len(topo.Shards))
	for i := range order {
		order[i] = i
	}
	rank := func(s Shard) int {
		r := 0
		if s.MasterAddr == "" {
			r += 2
		}
		if len(s.Slots) == 0 {
			r++
		}
		return r
	}
	sort.SliceStable(order, func(a, b int) bool { return rank(topo.Shards[order[a]]) < rank(topo.Shards[order[b]]) })
	taken := map[string]bool{}
	named := make([]string, len(topo.Shards))
	changed := false
	for _, i := range order {
		lineage, wait := sv.lineageName(ctx, topo.Shards[i], taken)
		if wait {
			continue
		}
		if lineage != "" {
			sv.names.adopt(lineage, topo.Shards[i])
			changed = true
		}
		n, c, dup := sv.names.name(topo.Shards[i], taken)
		if dup {
			sv.log.Debug("left out a second view of a shard", zap.Strings("nodes", topo.Shards[i].NodeIDs))
			continue
		}
		taken[n] = true
		named[i] = n
		changed = changed || c
	}
	if changed {
		if err := sv.names.save(); err != nil {
			return topo, nil, err
		}
	}
	out := Topology{}
	var names []string
	for i, s := range topo.Shards {
		if named[i] != "" {
			out.Shards = append(out.Shards, s)
			names = append(names, named[i])
		}
	}
	return out, names, nil
}

// resolveSelection turns --shards into shard names, once: the names then
// follow their shards through failovers.
func (sv *Supervisor) resolveSelection(ctx context.Context, topo Topology) error {
	if len(sv.opt.Shards) == 0 {
		return nil
	}
	topo, names, err := sv.nameAll(ctx, topo)
	if err != nil {
		return err
	}
	sv.selected = map[string]bool{}
	for _, want := range sv.opt.Shards {
		found := false
		if i, err := strconv.Atoi(want); err == nil {
			if i < 0 || i >= len(names) {
				return fmt.Errorf("shards: index %d, but the source cluster has %d masters (0 to %d, by first slot)", i, len(names), len(names)-1)
			}
			sv.selected[names[i]], found = true, true
		}
		for i, s := range topo.Shards {
			if names[i] == want || s.ShardID == want || slices.Contains(s.NodeIDs, want) {
				sv.selected[names[i]], found = true, true
			}
		}
		if !found {
			return fmt.Errorf("shards: %q is neither an index (0 to %d) nor the id of a node or shard of the source cluster", want, len(names)-1)
		}
	}
	return nil
}

// reconcile starts a link for each selected master that has none, moves a
// link whose shard has a new master (failover), and stops the links of
// masters that left the cluster once they have applied what they received.
func (sv *Supervisor) reconcile(ctx context.Context, topo Topology) error {
	topo, names, err := sv.nameAll(ctx, topo)
	if err != nil {
		return err
	}
	var owners [16384]string
	for i, s := range topo.Shards {
		for _, r := range s.Slots {
			for slot := r.Start; slot <= r.End && slot < len(owners); slot++ {
				owners[slot] = names[i]
			}
		}
	}
	if handoffs := sv.migr.setOwners(owners); len(handoffs) > 0 {
		// Unknown offsets (a master not answering) leave those slots'
		// writes by their old owners taken as late ones.
		if offsets := sv.masterOffsetsOf(ctx, givers(handoffs)); offsets != nil {
			sv.migr.noteHandoffs(handoffs, offsets)
		}
	}
	sv.migr.asm.setNodes(topo, names)
	present := map[string]bool{}
	for i, s := range topo.Shards {
		name := names[i]
		if sv.selected != nil && !sv.selected[name] {
			continue
		}
		present[name] = true
		if s.MasterAddr == "" {
			continue // its link reconnects until a replica is promoted
		}
		l := sv.links[name]
		switch {
		case l == nil:
			if sv.started && sv.postponeLate(ctx, name, s) {
				continue
			}
			sv.startLink(ctx, name, s.MasterAddr, newShardTracker(sv, name))
		case l.finished() && !sv.opt.Sync.Once:
			// It had left the cluster and is back.
			if sv.confirmMaster(ctx, s.MasterAddr) {
				sv.startLink(ctx, name, s.MasterAddr, newShardTracker(sv, name))
			}
		case l.failed() != nil:
			return fmt.Errorf("shard %s (master %s): %w", name, l.addr, l.failed())
		case l.addr != s.MasterAddr && !l.finished():
			if !sv.confirmMaster(ctx, s.MasterAddr) {
				continue // the nodes do not agree yet
			}
			sv.log.Info("the shard has a new master (failover): moving its link, which continues the stream with PSYNC",
				zap.String("shard", name), zap.String("from", l.addr), zap.String("to", s.MasterAddr))
			l.stop()
			sv.startLink(ctx, name, s.MasterAddr, l.tracker)
		}
	}
	for name, l := range sv.links {
		if err := l.failed(); err != nil {
			return fmt.Errorf("shard %s (master %s): %w", name, l.addr, err)
		}
		if present[name] {
			l.absent = 0
			continue
		}
		// Views taken during a failover may lack a shard for a moment.
		if l.absent++; l.absent >= absentPolls && !l.finished() && l.drained() {
			sv.log.Info("the master left the cluster and its stream is applied: stopping its link", zap.String("shard", name), zap.String("master", l.addr))
			l.stop()
			l.done.Store(true)
			sv.tracker.RemoveShard(name)
		}
	}
	return nil
}

func (sv *Supervisor) startLink(ctx context.Context, name, addr string, tr *status.Tracker) {
	o := sv.shardOptions(name, addr, tr)
	l := newLink(name, addr, tr, sv.log.With(zap.String("shard", name)))
	sv.mu.Lock()
	sv.links[name] = l
	sv.mu.Unlock()
	sv.tracker.SetShard(name, tr)
	sv.log.Info("starting the link of a shard", zap.String("shard", name), zap.String("master", addr))
	l.start(ctx, o)
}

func (sv *Supervisor) stopAll() {
	sv.mu.Lock()
	links := make([]*link, 0, len(sv.links))
	for _, l := range sv.links {
		links = append(links, l)
	}
	sv.mu.Unlock()
	var wg sync.WaitGroup
	for _, l := range links {
		wg.Add(1)
		go func() { defer wg.Done(); l.stop() }()
	}
	wg.Wait()
}

func (sv *Supervisor) allDone() bool {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	for _, l := range sv.links {
		if !l.finished() {
			return false
		}
	}
	return len(sv.links) > 0
}

func (sv *Supervisor) shardOptions(name, addr string, tr *status.Tracker) syncer.Options {
	o := sv.opt.Sync
	o.Source.Addr = addr
	o.SourceName = sv.opt.Sync.SourceName + " shard " + name + " (" + addr + ")"
	o.StateDir = shardDir(sv.opt.Sync.StateDir, name)
	o.CheckpointKey = sv.opt.Sync.CheckpointKey + ":" + name
	o.LegacyCheckpointKey = ""
	// The supervisor decided about the target once for every shard. When
	// the target held nothing of this sync (empty, or emptied), the shards
	// of that first start apply their snapshots while they download, as a
	// standalone source's first sync does; a new full sync of a shard then
	// removes only the keys of its slots (shardScope). A late shard (one
	// joining a running sync, or synced afresh while the others resume)
	// merges: its slots hold keys moved from the others.
	sv.mu.Lock()
	late := sv.started || sv.fresh[name]
	sv.mu.Unlock()
	o.Merge = !sv.overlapFirst || late
	o.FlushTarget, o.SharedTarget = false, true
	o.Scope = &shardScope{sv: sv, name: name, addr: addr}
	o.Gate = sv.migr.forShard(name, late)
	o.Tracker = tr
	o.Logger = sv.log.With(zap.String("shard", name))
	return o
}

func newShardTracker(sv *Supervisor, name string) *status.Tracker {
	return status.NewTracker(sv.opt.Sync.SourceName+" shard "+name, sv.opt.Sync.TargetName)
}

// Masters returns the master address each running link follows, by shard name.
func (sv *Supervisor) Masters() map[string]string {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	out := make(map[string]string, len(sv.links))
	for name, l := range sv.links {
		if !l.finished() {
			out[name] = l.addr
		}
	}
	return out
}
