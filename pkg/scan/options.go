package scan

import (
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/ratelimit"
	"github.com/redferry/redferry/pkg/server"
	"github.com/redferry/redferry/sink"
	"github.com/redferry/redferry/transform"
)

// Options configure Run.
type Options struct {
	Source     server.ClientOptions // the source: read with SCAN, DUMP and the types' own reads
	Target     sink.Config          // the target: written in MULTI/EXEC batches (CheckpointKey is set by Run)
	TargetCtl  server.ClientOptions // the target again, for SCAN during a prune and INFO
	SourceName string               // for logs: a URL without the password
	TargetName string

	// StateKey is the db-0 key of the target holding the scan's checkpoint
	// (cursor, pass, counts), written in every batch's transaction.
	StateKey string

	// Live keeps the target current after the copy, from keyspace
	// notifications, until ctx ends. Without it Run returns once a pass is
	// complete and the keys changed meanwhile are copied again.
	Live bool
	// FlushTarget empties a target that holds keys before the first pass;
	// Merge keeps them (same-named keys are replaced, and no prune runs:
	// the target's own keys are not the source's deletions). Without either
	// a non-empty target is refused.
	FlushTarget, Merge bool

	// ScanCount is the SCAN COUNT hint (default 500).
	ScanCount int
	// Rate caps the keys read per second (0: no cap), to spare the source;
	// it is the ops cap of the Limits made when Limits is nil.
	Rate int
	// Limits, when set, pace the copy (and replace Rate): ops caps the keys
	// read from the source per second (SCAN pages, the keys copied again,
	// the keys a prune checks), bytes the bytes written to the target per
	// second (about what the values weigh on the source). They change at
	// run time (the status server's PUT /limits).
	Limits *ratelimit.Limits
	// BigKeyBytes: a key whose MEMORY USAGE is above it (or, where MEMORY
	// USAGE is refused, whose element count is above BigKeyElements) is
	// copied by the type's own paged reads instead of one DUMP (default
	// transform.RestoreAutoMax, 4 MiB).
	BigKeyBytes    int64
	BigKeyElements int64
	// Chunk is the number of elements per paged read (default 1000); a
	// GETRANGE piece of a big string is Chunk KiB.
	Chunk int
	// Coalesce is how long events for one key are gathered before it is
	// copied again (default 100 ms); BigKeyCoalesce the same for keys
	// known to be big (default 2 s): a big key changed by a stream of
	// small writes is copied whole at most once per BigKeyCoalesce.
	Coalesce, BigKeyCoalesce time.Duration
	// MaxDirty bounds the keys waiting to be copied again (default
	// 100000). Past it they are dropped and a new pass is run instead.
	MaxDirty int
	// StreamPoll is how many watched streams are polled per second for
	// consumer-group changes, which send no notification (default 1000);
	// MaxStreams bounds the streams watched (default 100000).
	StreamPoll, MaxStreams int
	// SettleTimeout bounds, without Live, the time spent copying again the
	// keys that changed during the pass once it is over (default 30 s).
	SettleTimeout time.Duration

	// Filter chooses the keys copied and their target db (filter-dbs,
	// db-map, filter-keys-allow/deny, filter-types-drop); nil: every key,
	// each into its own db. Its commands-drop has no meaning for a scan.
	Filter *transform.Filter
	// OnFiltered, when set, is told the reason (transform.ReasonDB, …) of
	// each key the Filter leaves out (from Run's goroutine).
	OnFiltered func(reason string)

	ReplayMode string // transform.ModeAuto (default) or ModeCommands, ModeRestore
	// Unholdable says what becomes of data the target cannot hold (the
	// on-unholdable-* settings; zero: stop).
	Unholdable    transform.Unholdable
	BatchCommands int // commands per target batch (default 2000)
	BatchBytes    int // bytes per target batch (default 4 MiB)

	// Progress, when set, is called after each step with the counts so far
	// (from Run's goroutine: it must return quickly).
	Progress func(Stats)
	Logger   *zap.Logger
}

func (o *Options) withDefaults() {
	if o.ScanCount <= 0 {
		o.ScanCount = 500
	}
	if o.BigKeyBytes <= 0 {
		o.BigKeyBytes = transform.RestoreAutoMax
	}
	if o.BigKeyElements <= 0 {
		o.BigKeyElements = 20000
	}
	if o.Chunk <= 0 {
		o.Chunk = 1000
	}
	if o.Coalesce <= 0 {
		o.Coalesce = 100 * time.Millisecond
	}
	if o.BigKeyCoalesce <= 0 {
		o.BigKeyCoalesce = 2 * time.Second
	}
	if o.MaxDirty <= 0 {
		o.MaxDirty = 100000
	}
	if o.StreamPoll <= 0 {
		o.StreamPoll = 1000
	}
	if o.MaxStreams <= 0 {
		o.MaxStreams = 100000
	}
	if o.SettleTimeout <= 0 {
		o.SettleTimeout = 30 * time.Second
	}
	if o.ReplayMode == "" {
		o.ReplayMode = transform.ModeAuto
	}
	if o.BatchCommands <= 0 {
		o.BatchCommands = 2000
	}
	if o.BatchBytes <= 0 {
		o.BatchBytes = 4 << 20
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Limits == nil {
		o.Limits = ratelimit.New(int64(max(o.Rate, 0)), 0)
	}
	if o.SourceName == "" {
		o.SourceName = o.Source.Name()
	}
	if o.TargetName == "" {
		o.TargetName = o.Target.Addr
	}
}

func (o *Options) validate() error {
	var errs []error
	if o.Source.Addr == "" && o.Source.Sentinel == nil {
		errs = append(errs, errors.New("source: no address"))
	}
	if o.Target.Addr == "" && o.Target.Resolve == nil || o.TargetCtl.Addr == "" && o.TargetCtl.Sentinel == nil {
		errs = append(errs, errors.New("target: no address"))
	}
	if o.StateKey == "" {
		errs = append(errs, errors.New("state key: empty"))
	}
	if o.FlushTarget && o.Merge {
		errs = append(errs, errors.New("flush-target and merge: choose one"))
	}
	if o.Rate < 0 {
		errs = append(errs, fmt.Errorf("rate: must be >= 0, got %d", o.Rate))
	}
	return errors.Join(errs...)
}

// Stats are the counts of a Run.
type Stats struct {
	Pass       int    // the pass running or last run (1: the first)
	Phase      string // the pass's phase (PhaseCopy … PhaseLive, PhaseDone)
	Copied     int64  // keys written to the target by this run (a key copied twice counts twice)
	Big        int64  // of which copied by paged reads
	Deleted    int64  // keys deleted on the target: gone from the source (events, a copy that found nothing, a prune)
	Filtered   int64  // keys read from the source and left out by Options.Filter (a key seen twice counts twice)
	Events     int64  // keyspace notifications received
	Dirty      int    // keys waiting to be copied again
	Rescans    int    // passes started because events may have been lost
	PassCopied int64  // keys copied by the current pass, over restarts (the checkpoint's count)
	Scanned    int64  // keys SCAN returned to the passes of this run (redferry's own left out)
	Total      int64  // keys of the source (INFO keyspace, as DBSIZE), at the last look
	Topology   int    // changes of a cluster source's masters followed (failovers, slot migrations)
	Master     string // the master of a cluster source whose SCAN runs ("": none, or a standalone source)
}
