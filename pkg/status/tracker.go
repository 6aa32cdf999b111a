// Package status tracks where a sync (or a scan, see scan.go) stands and
// serves it over HTTP.
package status

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/redferry/redferry/pkg/ratelimit"
)

// Phase is the stage a sync is in.
type Phase string

const (
	PhaseStarting         Phase = "starting"
	PhaseHandshake        Phase = "handshake"
	PhaseSnapshotDownload Phase = "snapshot-download"
	PhaseSnapshotReplay   Phase = "snapshot-replay"
	PhaseStreaming        Phase = "streaming"
	PhaseStopped          Phase = "stopped"
)

// Tracker is updated by the pipeline's stages and read by the status page.
// All methods are safe for concurrent use.
type Tracker struct {
	mu         sync.Mutex
	phase      Phase
	replID     string
	source     string
	target     string
	lastError  string
	startedAt  time.Time
	receivedAt []offsetTime // recent received offsets with their arrival time, for lag in seconds

	cmdMu    sync.RWMutex
	commands map[string]*atomic.Int64 // stream commands applied, by name

	unholdable unholdableCounts

	received         atomic.Int64
	applied          atomic.Int64
	keysApplied      atomic.Int64
	commandsApplied  atomic.Int64
	targetErrors     atomic.Int64
	skippedByFlag    atomic.Int64 // rejected commands skipped with --skip-rejected
	skippedByLog     atomic.Int64 // rejected commands skipped with on-target-error = log
	retried          atomic.Int64 // rejected commands retried with --retry-rejected
	snapshotSize     atomic.Int64
	snapshotReceived atomic.Int64
	snapshotApplied  atomic.Int64
	spoolBytes       atomic.Int64
	reconnects       atomic.Int64
	readyMaxLag      atomic.Int64 // time.Duration; see SetReadyMaxLag

	filtered filteredCounts         // filtered.go
	limits   *ratelimit.Limits      // limits.go; guarded by mu
	scan     *ScanReport            // scan.go, nil for a sync; guarded by mu
	rollback func() *RollbackReport // rollback.go; guarded by mu
	shards   shardSet               // shards.go: a cluster source's shards
}

type offsetTime struct {
	offset int64
	at     time.Time
}

// NewTracker returns a tracker for a sync from source to target (endpoints
// as printable strings, without passwords).
func NewTracker(source, target string) *Tracker {
	return &Tracker{phase: PhaseStarting, source: source, target: target, startedAt: time.Now()}
}

func (t *Tracker) SetPhase(p Phase) { t.mu.Lock(); t.phase = p; t.mu.Unlock() }

func (t *Tracker) Phase() Phase { t.mu.Lock(); defer t.mu.Unlock(); return t.phase }

// AdvancePhase sets the phase to next only if it is still from, and reports
// whether it did: a stage that starts later must not overwrite the phase a
// faster one already moved on to.
func (t *Tracker) AdvancePhase(from, next Phase) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.phase != from {
		return false
	}
	t.phase = next
	return true
}

func (t *Tracker) SetReplID(id string) { t.mu.Lock(); t.replID = id; t.mu.Unlock() }

func (t *Tracker) SetError(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err == nil {
		t.lastError = ""
		return
	}
	t.lastError = err.Error()
}

// SetReceived records the replication offset received (and spooled) so far.
func (t *Tracker) SetReceived(offset int64) {
	if t.received.Swap(offset) == offset {
		return
	}
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(t.receivedAt)
	// One sample per 100ms is enough for lag in seconds.
	if n > 0 && now.Sub(t.receivedAt[n-1].at) < 100*time.Millisecond {
		t.receivedAt[n-1].offset = offset
		return
	}
	t.receivedAt = append(t.receivedAt, offsetTime{offset, now})
}

// SetApplied records the replication offset applied to the target.
func (t *Tracker) SetApplied(offset int64) {
	t.applied.Store(offset)
	t.mu.Lock()
	defer t.mu.Unlock()
	i := 0
	for i < len(t.receivedAt) && t.receivedAt[i].offset <= offset {
		i++
	}
	t.receivedAt = append(t.receivedAt[:0], t.receivedAt[i:]...)
}

func (t *Tracker) Received() int64 { return t.received.Load() }
func (t *Tracker) Applied() int64  { return t.applied.Load() }

func (t *Tracker) AddKeys(n int64)         { t.keysApplied.Add(n) }
func (t *Tracker) SetKeysApplied(n int64)  { t.keysApplied.Store(n) }
func (t *Tracker) AddCommands(n int64)     { t.commandsApplied.Add(n) }
func (t *Tracker) AddTargetErrors(n int64) { t.targetErrors.Add(n) }
func (t *Tracker) AddReconnect()           { t.reconnects.Add(1) }

// Why a command the target rejected was skipped.
const (
	SkippedByOperator      = "operator"        // --skip-rejected
	SkippedByOnTargetError = "on-target-error" // on-target-error = log
)

// AddRejectedSkipped counts n rejected commands skipped, why being
// SkippedByOperator or SkippedByOnTargetError.
func (t *Tracker) AddRejectedSkipped(why string, n int64) {
	if why == SkippedByOperator {
		t.skippedByFlag.Add(n)
	} else {
		t.skippedByLog.Add(n)
	}
}

// AddRejectedRetried counts n rejected commands applied again with --retry-rejected.
func (t *Tracker) AddRejectedRetried(n int64)  { t.retried.Add(n) }
func (t *Tracker) SetSnapshotSize(n int64)     { t.snapshotSize.Store(n) }
func (t *Tracker) SetSnapshotReceived(n int64) { t.snapshotReceived.Store(n) }
func (t *Tracker) SetSnapshotApplied(n int64)  { t.snapshotApplied.Store(n) }
func (t *Tracker) SetSpoolBytes(n int64)       { t.spoolBytes.Store(n) }

// Report is the JSON document of GET /status.
type Report struct {
	Phase           Phase   `json:"phase"`
	Source          string  `json:"source"`
	Target          string  `json:"target"`
	ReplID          string  `json:"replid"`
	OffsetReceived  int64   `json:"offset_received"`
	OffsetApplied   int64   `json:"offset_applied"`
	LagBytes        int64   `json:"lag_bytes"`
	LagSeconds      float64 `json:"lag_seconds"`
	KeysApplied     int64   `json:"keys_applied"`
	CommandsApplied int64   `json:"commands_applied"`
	TargetErrors    int64   `json:"target_errors"`
	// Rejected commands skipped (by the operator's --skip-rejected, or by
	// on-target-error = log) and retried (--retry-rejected).
	RejectedSkippedByOperator int64 `json:"rejected_skipped_by_operator"`
	RejectedSkippedByLog      int64 `json:"rejected_skipped_on_target_error"`
	RejectedRetried           int64 `json:"rejected_retried"`
	SnapshotSize              int64 `json:"snapshot_size"`
	SnapshotReceived          int64 `json:"snapshot_received"`
	SnapshotApplied           int64 `json:"snapshot_applied"`
	SpoolBytes                int64 `json:"spool_bytes"`
	Reconnects                int64 `json:"reconnects"`
	// Unholdable counts the data the target cannot hold that was skipped
	// or converted (on-unholdable-*): kind -> action -> count.
	Unholdable    map[string]map[string]int64 `json:"unholdable"`
	LastError     string                      `json:"last_error,omitempty"`
	UptimeSeconds float64                     `json:"uptime_seconds"`

	Filtered *FilteredReport `json:"filtered,omitempty"` // what the filters left out
	Limits   *LimitsReport   `json:"limits,omitempty"`   // the rate limits, when the sync has them
	Scan     *ScanReport     `json:"scan,omitempty"`     // a scan's progress (`redferry scan`), nil for a sync
	Rollback *RollbackReport `json:"rollback,omitempty"` // a rollback-ready migration (rollback.go)
	// Shards: a cluster source's shards by name; the fields above are then
	// their totals (shards.go).
	Shards map[string]Report `json:"shards,omitempty"`
}

// Report returns the current state.
func (t *Tracker) Report() Report {
	now := time.Now()
	t.mu.Lock()
	r := Report{Phase: t.phase, Source: t.source, Target: t.target, ReplID: t.replID, LastError: t.lastError,
		UptimeSeconds: now.Sub(t.startedAt).Seconds()}
	if len(t.receivedAt) > 0 {
		r.LagSeconds = now.Sub(t.receivedAt[0].at).Seconds()
	}
	t.mu.Unlock()
	r.OffsetReceived, r.OffsetApplied = t.received.Load(), t.applied.Load()
	if r.Phase == PhaseStreaming && r.OffsetReceived > r.OffsetApplied {
		r.LagBytes = r.OffsetReceived - r.OffsetApplied
	} else if r.Phase != PhaseStreaming {
		r.LagSeconds = 0
	}
	r.KeysApplied, r.CommandsApplied, r.TargetErrors = t.keysApplied.Load(), t.commandsApplied.Load(), t.targetErrors.Load()
	r.SnapshotSize, r.SnapshotReceived, r.SnapshotApplied = t.snapshotSize.Load(), t.snapshotReceived.Load(), t.snapshotApplied.Load()
	r.SpoolBytes, r.Reconnects = t.spoolBytes.Load(), t.reconnects.Load()
	r.RejectedSkippedByOperator, r.RejectedSkippedByLog, r.RejectedRetried = t.skippedByFlag.Load(), t.skippedByLog.Load(), t.retried.Load()
	r.Filtered, r.Limits = t.filtered.report(), t.limitsReport()
	r.Unholdable = t.UnholdableCounts()
	r.Scan = t.scanReport()
	r.Rollback = t.rollbackReport()
	return t.withShards(r)
}

// maxCommandNames bounds the distinct names CountCommand keeps; later ones
// count as "other", so a stream of odd names cannot grow memory or metrics.
const maxCommandNames = 256

// CountCommand counts one command of the stream applied to the target, by
// its lowercased name.
func (t *Tracker) CountCommand(name []byte) {
	var buf [32]byte
	lower := buf[:0]
	for _, c := range name {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		lower = append(lower, c)
	}
	t.cmdMu.RLock()
	n, ok := t.commands[string(lower)]
	t.cmdMu.RUnlock()
	if !ok {
		t.cmdMu.Lock()
		if t.commands == nil {
			t.commands = map[string]*atomic.Int64{}
		}
		key := string(lower)
		if len(t.commands) >= maxCommandNames {
			key = "other"
		}
		if n, ok = t.commands[key]; !ok {
			n = new(atomic.Int64)
			t.commands[key] = n
		}
		t.cmdMu.Unlock()
	}
	n.Add(1)
}

// CommandCounts returns the applied stream commands by name.
func (t *Tracker) CommandCounts() map[string]int64 {
	t.cmdMu.RLock()
	defer t.cmdMu.RUnlock()
	out := make(map[string]int64, len(t.commands))
	for k, v := range t.commands {
		out[k] = v.Load()
	}
	return out
}
