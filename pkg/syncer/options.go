package syncer

import (
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/checkpoint"
	"github.com/redferry/redferry/pkg/config"
	"github.com/redferry/redferry/pkg/ratelimit"
	"github.com/redferry/redferry/pkg/server"
	"github.com/redferry/redferry/pkg/status"
	"github.com/redferry/redferry/pkg/unholdable"
	"github.com/redferry/redferry/transform"
)

// Options is what a Syncer needs: where the servers are and how to treat
// them. OptionsFromConfig builds it from redferry's configuration.
type Options struct {
	// Source and Target: address, credentials, TLS and timeouts.
	Source, Target server.ClientOptions
	// SourceName and TargetName stand for the servers in logs and errors
	// (URLs without passwords).
	SourceName, TargetName string
	// ListeningPort is announced to the source (REPLCONF listening-port); 0: the link's own port.
	ListeningPort int
	// SourcePSyncCommand is PSYNC's name on the source ("": PSYNC).
	SourcePSyncCommand string

	StateDir      string
	SegmentBytes  int64
	MaxSpoolBytes int64

	// CheckpointKey is the target key holding the checkpoint, written in each
	// batch's transaction (exactly-once); "" keeps it in StateDir instead.
	CheckpointKey string
	// LegacyCheckpointKey, when set, is renamed to CheckpointKey at start
	// (older redferry versions named it after the source's address).
	LegacyCheckpointKey string

	ReplayMode                string
	ReplayPublish             bool
	OnTargetError             string // "stop" or "log"
	OnCrossSlot               string // cluster target: "stop" or "split" (sink.Config.OnCrossSlot)
	OnFullResync              string // "stop" or "flush"
	BatchCommands, BatchBytes int
	FlushTarget, Merge, Once  bool
	// Unholdable: what to do with data the target cannot hold (the
	// on-unholdable-* settings); the zero Policy stops on all of it.
	Unholdable unholdable.Policy
	// SnapshotWindow is how many batches of the snapshot replay may be in
	// flight on the target at once (snapshot_window.go); 0: the default,
	// 1: one at a time, as the stream is applied.
	SnapshotWindow int

	// RetryRejected and SkipRejected are the operator's answer to commands
	// the target rejected (recorded with the checkpoint, see rejected.go):
	// apply them once more, or go on without the ones at these source
	// offsets. They are flags of one run, never settings of the config file
	// or the environment: a standing answer would skip or retry whatever is
	// rejected next without anyone looking.
	RetryRejected bool
	SkipRejected  []int64
	// Filter chooses the keys, commands and dbs copied and maps the dbs
	// (nil: everything, as is).
	Filter *transform.Filter
	// Limits cap the writes to the target (nil: none); they change at run
	// time (the status server's PUT /limits).
	Limits *ratelimit.Limits

	// StartAt, when set, is where the sync starts while the target holds no
	// checkpoint, instead of a full sync: the reverse link of a
	// rollback-ready cutover starts at the target's offset at the cutover
	// (the old source holds the same data). Once a batch is applied, the
	// checkpoint in the target wins.
	StartAt *checkpoint.State
	// Gate, when set, orders this sync's stream with other syncs into the
	// same target (the shards of a cluster source): see StreamGate.
	Gate StreamGate
	// SharedTarget: other syncs write into the same target (the other shards
	// of a cluster source), so nothing may empty it: a new full sync removes
	// only Scope, and the first sync does not look at the target's keys (the
	// caller decided about them, once for all the syncs).
	SharedTarget bool
	// Scope, with SharedTarget, is the part of the target this sync writes:
	// a new full sync of it (a snapshot download that broke off while it was
	// applied, or on-full-resync = flush) removes that part instead of
	// stopping. Nil: such a sync stops.
	Scope TargetScope

	// SourceInfo is the source's INFO when the caller has just read it (the
	// CLI does, to tell a cluster node): New uses it rather than ask again.
	// nil: New reads it.
	SourceInfo *server.Info

	Logger  *zap.Logger
	Tracker *status.Tracker // nil: a new one
}

// validate rejects what would fail later, half-way through New.
func (o *Options) validate() error {
	var errs []error
	if o.Source.Addr == "" && o.Source.Sentinel == nil || o.Target.Addr == "" && o.Target.Sentinel == nil {
		errs = append(errs, errors.New("source and target addresses are required"))
	}
	if o.StateDir == "" {
		errs = append(errs, errors.New("a state directory is required"))
	}
	if o.BatchCommands <= 0 || o.BatchBytes <= 0 {
		errs = append(errs, fmt.Errorf("batch limits must be positive (commands %d, bytes %d)", o.BatchCommands, o.BatchBytes))
	}
	if o.Target.IOTimeout <= 0 {
		o.Target.IOTimeout = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	return errors.Join(errs...)
}

// OptionsFromConfig checks the configuration and turns it into Options.
func OptionsFromConfig(cfg config.Config, log *zap.Logger) (Options, error) {
	if err := cfg.Validate(); err != nil {
		return Options{}, fmt.Errorf("configuration: %w", err)
	}
	src, err := cfg.SourceClient()
	if err != nil {
		return Options{}, err
	}
	dst, err := cfg.TargetClient()
	if err != nil {
		return Options{}, err
	}
	srcEP, err := cfg.SourceEndpoint()
	if err != nil {
		return Options{}, fmt.Errorf("source: %w", err)
	}
	dstEP, err := cfg.TargetEndpoint()
	if err != nil {
		return Options{}, fmt.Errorf("target: %w", err)
	}
	filter, err := cfg.Filter()
	if err != nil {
		return Options{}, fmt.Errorf("configuration: %w", err)
	}
	policy, err := cfg.UnholdablePolicy()
	if err != nil {
		return Options{}, fmt.Errorf("configuration: %w", err)
	}
	o := Options{Filter: filter, Limits: ratelimit.New(cfg.MaxOpsPerSecond, cfg.MaxBytesPerSecond), Source: src, Target: dst, SourceName: srcEP.String(), TargetName: dstEP.String(),
		ListeningPort: cfg.ListeningPort, SourcePSyncCommand: cfg.SourcePSyncCommand, StateDir: cfg.StateDir, SegmentBytes: cfg.SegmentBytes, MaxSpoolBytes: cfg.MaxSpoolBytes,
		ReplayMode: cfg.ReplayMode, Unholdable: policy, ReplayPublish: cfg.ReplayPublish,
		OnTargetError: cfg.OnTargetError, OnCrossSlot: cfg.OnCrossSlot, OnFullResync: cfg.OnFullResync, BatchCommands: cfg.BatchCommands,
		BatchBytes: cfg.BatchBytes, FlushTarget: cfg.FlushTarget, Merge: cfg.Merge, Once: cfg.Once, Logger: log}
	if cfg.Checkpoint == "target" {
		o.CheckpointKey = checkpointKey(cfg)
		if cfg.CheckpointKey == "" && srcEP.Sentinel == nil { // no older version took a sentinel source
			o.LegacyCheckpointKey = checkpoint.KeyPrefix + srcEP.Addr
		}
	}
	return o, nil
}

// checkpointKey is the target key holding the checkpoint. The default is
// named after the sync, not after the source's address, so that pointing
// redferry at a promoted replica (another address) finds the checkpoint.
func checkpointKey(cfg config.Config) string {
	if cfg.CheckpointKey != "" {
		return cfg.CheckpointKey
	}
	name := cfg.Name
	if name == "" {
		name = "default"
	}
	return checkpoint.KeyPrefix + name
}
