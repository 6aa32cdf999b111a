package status

import (
	"sort"
	"sync"
)

// The shards of a cluster source: each link has a tracker of its own,
// registered in the sync's tracker, whose report then shows every shard and
// their totals.

// shardSet is the trackers of a cluster source's shards, by shard name.
type shardSet struct {
	mu sync.Mutex
	m  map[string]*Tracker
}

// SetShard registers (or replaces) the tracker of one shard.
func (t *Tracker) SetShard(name string, child *Tracker) {
	t.shards.mu.Lock()
	defer t.shards.mu.Unlock()
	if t.shards.m == nil {
		t.shards.m = map[string]*Tracker{}
	}
	t.shards.m[name] = child
}

// RemoveShard forgets the tracker of a shard that left the source.
func (t *Tracker) RemoveShard(name string) {
	t.shards.mu.Lock()
	defer t.shards.mu.Unlock()
	delete(t.shards.m, name)
}

// Shards returns the shards' trackers by name (nil for a standalone source).
func (t *Tracker) Shards() map[string]*Tracker {
	t.shards.mu.Lock()
	defer t.shards.mu.Unlock()
	if len(t.shards.m) == 0 {
		return nil
	}
	out := make(map[string]*Tracker, len(t.shards.m))
	for k, v := range t.shards.m {
		out[k] = v
	}
	return out
}

// phaseOrder ranks phases: the sync as a whole is in its least advanced
// shard's phase.
var phaseOrder = map[Phase]int{PhaseStarting: 0, PhaseHandshake: 1, PhaseSnapshotDownload: 2,
	PhaseSnapshotReplay: 3, PhaseStreaming: 4, PhaseStopped: 5}

// withShards fills r from the shards when there are any: per shard, and
// in total (offsets, lags, counts and sizes summed; the lag in seconds
// the largest; the phase the least advanced; the replid left empty, each
// shard having its own).
func (t *Tracker) withShards(r Report) Report {
	shards := t.Shards()
	if shards == nil {
		return r
	}
	names := make([]string, 0, len(shards))
	for n := range shards {
		names = append(names, n)
	}
	sort.Strings(names)
	r.Shards = make(map[string]Report, len(shards))
	r.ReplID = ""
	first := true
	for _, n := range names {
		s := shards[n].Report()
		r.Shards[n] = s
		if first || phaseOrder[s.Phase] < phaseOrder[r.Phase] {
			r.Phase = s.Phase
		}
		if first {
			r.OffsetReceived, r.OffsetApplied, r.LagBytes, r.LagSeconds = 0, 0, 0, 0
			r.KeysApplied, r.CommandsApplied, r.TargetErrors = 0, 0, 0
			r.SnapshotSize, r.SnapshotReceived, r.SnapshotApplied, r.SpoolBytes, r.Reconnects = 0, 0, 0, 0, 0
			first = false
		}
		r.OffsetReceived += s.OffsetReceived
		r.OffsetApplied += s.OffsetApplied
		r.LagBytes += s.LagBytes
		r.LagSeconds = max(r.LagSeconds, s.LagSeconds)
		r.KeysApplied += s.KeysApplied
		r.CommandsApplied += s.CommandsApplied
		r.TargetErrors += s.TargetErrors
		r.SnapshotSize += s.SnapshotSize
		r.SnapshotReceived += s.SnapshotReceived
		r.SnapshotApplied += s.SnapshotApplied
		r.SpoolBytes += s.SpoolBytes
		r.Reconnects += s.Reconnects
		if s.LastError != "" && r.LastError == "" {
			r.LastError = "shard " + n + ": " + s.LastError
		}
	}
	return r
}

// collectShards exports each shard of a cluster source, labelled by name.
func collectShards(r Report, gauge, counter func(name string, v float64, labels ...string)) {
	for name, s := range r.Shards {
		gauge("shard_offset_received", float64(s.OffsetReceived), name)
		gauge("shard_offset_applied", float64(s.OffsetApplied), name)
		gauge("shard_lag_bytes", float64(s.LagBytes), name)
		gauge("shard_lag_seconds", s.LagSeconds, name)
		counter("shard_reconnects_total", float64(s.Reconnects), name)
		for _, p := range allPhases {
			v := 0.0
			if p == s.Phase {
				v = 1
			}
			gauge("shard_phase", v, name, string(p))
		}
	}
}
