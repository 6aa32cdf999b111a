package clustersource

import (
	"context"
	"maps"
	"slices"
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
	marks := sv.progress()
	delete(marks, shard)
	sv.mu.Lock()
	for name := range marks {
		// Another shard still applying a snapshot of its own has no
		// stream of moved keys' writes applied yet to wait for.
		if l := sv.links[name]; l == nil || l.tracker.Phase() != status.PhaseStreaming {
			delete(marks, name)
		}
	}
	sv.mu.Unlock()
	for {
		now := sv.progress()
		behind := false
		for s, m := range marks {
			if p, ok := now[s]; ok && p[1] < m[0] {
				behind = true
			}
		}
		if !behind {
			return nil
		}
		if err := retry.Sleep(ctx, 50*time.Millisecond); err != nil {
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

// nodeInfo reads the INFO of the source node at addr.
func (sv *Supervisor) nodeInfo(ctx context.Context, addr string) (server.Info, error) {
	c := sv.nodeClient(addr)
	defer c.Close()
	return server.Fetch(ctx, c)
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
	for {
		now := sv.progress()
		behind, blocked := 0, 0
		for s, mark := range marks {
			if p, ok := now[s]; ok && p[1] < mark {
				behind++
				if sv.migr.isCatchingUp(s) || sv.migr.asm.isWaiting(s) {
					blocked++
				}
			}
		}
		if time.Since(warned) > 10*time.Second {
			sv.log.Warn("a write to a slot this shard takes over waits until the exporting shards' links have applied their masters' streams",
				zap.String("shard", shard), zap.Any("exporters_master_offsets", marks), zap.Int("exporters_behind", behind), zap.Int("exporters_waiting_themselves", blocked))
			warned = time.Now()
		}
		switch {
		case behind == 0:
			return covered, nil
		case blocked < behind:
			cycleSince = time.Time{}
		case cycleSince.IsZero():
			cycleSince = time.Now()
		case time.Since(cycleSince) > time.Second:
			return covered, errCatchUpCycle
		}
		if err := retry.Sleep(ctx, 5*time.Millisecond); err != nil {
			return 0, err
		}
	}
}
