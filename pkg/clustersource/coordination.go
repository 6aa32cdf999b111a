package clustersource

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/retry"
	"github.com/redferry/redferry/pkg/server"
	"github.com/redferry/redferry/pkg/status"
	"github.com/redis/go-redis/v9"
)

// What the links need to know of each other, for the order of moved keys
// (migration.go): their phases and offsets, and their masters' offsets.

// othersStreaming: every link but shard's has applied its snapshot.
func (sv *Supervisor) othersStreaming(shard string) bool {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	for name, l := range sv.links {
		if name != shard && !l.finished() && l.tracker.Phase() != status.PhaseStreaming {
			return false
		}
	}
	return true
}

// importGrace is the default of Options.ImportGrace.
const importGrace = 30 * time.Second

func (sv *Supervisor) expireImports(ctx context.Context) {
	gone := sv.migr.expired(sv.opt.ImportGrace, sv.progress(), func() map[string]int64 { return sv.masterOffsets(ctx) })
	if len(gone) > 0 {
		if err := sv.target.forgetImports(ctx, gone, sv.migr.tags); err != nil {
			sv.log.Warn("could not remove the records of finished key migrations from the target (they are harmless)", zap.Error(err))
		}
	}
}

// progress returns the received and applied offsets of every running link.
func (sv *Supervisor) progress() map[string][2]int64 {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	out := make(map[string][2]int64, len(sv.links))
	for name, l := range sv.links {
		if !l.finished() {
			out[name] = [2]int64{l.tracker.Received(), l.tracker.Applied()}
		}
	}
	return out
}

// masterOffsets asks each running link's master for its master_repl_offset;
// nil when one cannot tell.
func (sv *Supervisor) masterOffsets(ctx context.Context) map[string]int64 {
	return sv.masterOffsetsOf(ctx, nil)
}

// masterOffsetsOf is masterOffsets for the running links of shards only
// (nil: all of them).
func (sv *Supervisor) masterOffsetsOf(ctx context.Context, shards []string) map[string]int64 {
	out := map[string]int64{}
	for name, addr := range sv.Masters() {
		if shards != nil && !slices.Contains(shards, name) {
			continue
		}
		info, err := sv.nodeInfo(ctx, addr)
		if err != nil {
			return nil
		}
		out[name] = info.MasterReplOffset
	}
	return out
}

// waitOthersApplied waits a moment (for what the masters sent before now to
// arrive), then until every running link but shard's has applied what it
// had received.
func (sv *Supervisor) waitOthersApplied(ctx context.Context, shard string) error {
	if err := retry.Sleep(ctx, time.Second); err != nil {
		return err
	}
	received := map[string]int64{}
	sv.mu.Lock()
	for name, l := range sv.links {
		// Another shard still applying a snapshot of its own has no
		// stream of moved keys' writes applied yet to wait for.
		if name != shard && !l.finished() && l.tracker.Phase() == status.PhaseStreaming {
			received[name] = l.tracker.Received()
		}
	}
	sv.mu.Unlock()
	return sv.waitLinksApplied(ctx, received, 50*time.Millisecond, nil)
}

// waitLinksApplied waits until the running link of each shard in marks has
// applied its stream up to the shard's mark; a shard whose link stopped
// running has nothing more to apply. stuck, when set, hears every round
// which shards are still behind; its error ends the wait.
func (sv *Supervisor) waitLinksApplied(ctx context.Context, marks map[string]int64, poll time.Duration, stuck func(behind []string) error) error {
	var behind []string
	for {
		now := sv.progress()
		behind = behind[:0]
		for s, mark := range marks {
			if p, ok := now[s]; ok && p[1] < mark {
				behind = append(behind, s)
			}
		}
		if len(behind) == 0 {
			return nil
		}
		if stuck != nil {
			if err := stuck(behind); err != nil {
				return err
			}
		}
		if err := retry.Sleep(ctx, poll); err != nil {
			return err
		}
	}
}

// confirmMaster asks addr itself whether it is a master: right after a
// failover the nodes' views differ for a moment.
func (sv *Supervisor) confirmMaster(ctx context.Context, addr string) bool {
	info, err := sv.nodeInfo(ctx, addr)
	return err == nil && info.Role == "master"
}

// nodeClient is a control connection to the source node at addr.
func (sv *Supervisor) nodeClient(addr string) *redis.Client {
	o := sv.opt.Sync.Source
	o.Addr, o.PoolSize = addr, 1
	return server.NewClient(o)
}

// nodeInfo reads the INFO of the source node at addr, on a connection kept
// for it (infoClients).
func (sv *Supervisor) nodeInfo(ctx context.Context, addr string) (server.Info, error) {
	c := sv.infoClients.get(addr, sv.nodeClient)
	info, err := server.Fetch(ctx, c)
	if err != nil {
		sv.infoClients.drop(addr, c) // a node gone is not kept
	}
	return info, err
}

// infoClients keeps a control connection per source node for INFO reads:
// a catch-up reads its exporting masters' offsets once per batch during a
// migration, too often to dial each time (TLS, a remote cluster). Only INFO
// goes over them, so no connection state (a SELECTed db) is shared.
type infoClients struct {
	mu     sync.Mutex
	byAddr map[string]*redis.Client
}

func (ic *infoClients) get(addr string, dial func(string) *redis.Client) *redis.Client {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	if c := ic.byAddr[addr]; c != nil {
		return c
	}
	if ic.byAddr == nil {
		ic.byAddr = map[string]*redis.Client{}
	}
	c := dial(addr)
	ic.byAddr[addr] = c
	return c
}

// drop closes c and forgets it, unless another call replaced it already.
func (ic *infoClients) drop(addr string, c *redis.Client) {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	if ic.byAddr[addr] == c {
		delete(ic.byAddr, addr)
		_ = c.Close()
	}
}

func (ic *infoClients) close() {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	for _, c := range ic.byAddr {
		_ = c.Close()
	}
	ic.byAddr = nil
}

// catchUp waits until the links of exporters (every other running link
// when empty) have applied their masters' streams as they stand now, or up
// to the offset given when lower; see linkHooks.catchUp. The masters'
// offsets are read after shard's received offset: each then holds every
// write its master made before shard's master made any command shard's
// link had received.
func (sv *Supervisor) catchUp(ctx context.Context, shard string, exporters map[string]int64) (int64, error) {
	sv.mu.Lock()
	own := sv.links[shard]
	if len(exporters) == 0 {
		exporters = map[string]int64{}
		for name := range sv.links {
			if name != shard {
				exporters[name] = 0
			}
		}
	}
	sv.mu.Unlock()
	if own == nil {
		return 0, nil
	}
	covered := own.tracker.Received()
	var marks map[string]int64
	for start := time.Now(); ; {
		if marks = sv.masterOffsetsOf(ctx, slices.Collect(maps.Keys(exporters))); marks != nil {
			break
		}
		if time.Since(start) > 10*time.Second {
			sv.log.Warn("a write to a slot this shard takes over waits until every exporting master answers", zap.String("shard", shard))
			start = time.Now()
		}
		if err := retry.Sleep(ctx, 100*time.Millisecond); err != nil {
			return 0, err
		}
	}
	for s, upTo := range exporters {
		if upTo > 0 && upTo < marks[s] {
			marks[s] = upTo
		}
	}
	var cycleSince time.Time
	warned := time.Now()
	err := sv.waitLinksApplied(ctx, marks, 5*time.Millisecond, func(behind []string) error {
		blocked := 0
		for _, s := range behind {
			if sv.migr.isCatchingUp(s) || sv.migr.asm.isWaiting(s) {
				blocked++
			}
		}
		if time.Since(warned) > 10*time.Second {
			sv.log.Warn("a write to a slot this shard takes over waits until the exporting shards' links have applied their masters' streams",
				zap.String("shard", shard), zap.Any("exporters_master_offsets", marks), zap.Int("exporters_behind", len(behind)), zap.Int("exporters_waiting_themselves", blocked))
			warned = time.Now()
		}
		switch {
		case blocked < len(behind):
			cycleSince = time.Time{}
		case cycleSince.IsZero():
			cycleSince = time.Now()
		case time.Since(cycleSince) > time.Second:
			return errCatchUpCycle
		}
		return nil
	})
	switch {
	case errors.Is(err, errCatchUpCycle):
		return covered, err
	case err != nil:
		return 0, err
	}
	return covered, nil
}
