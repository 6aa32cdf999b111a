package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/checkpoint"
	"github.com/redferry/redferry/pkg/config"
	"github.com/redferry/redferry/pkg/interlock"
	"github.com/redferry/redferry/pkg/scan"
	"github.com/redferry/redferry/pkg/status"
	"github.com/redferry/redferry/pkg/unholdable"
	"github.com/redferry/redferry/sink"
	"github.com/redferry/redferry/transform"
)

// scanSharedFlags are the settings of `redferry sync` that scan uses too.
var scanSharedFlags = append(append([]string(nil), verifyConnFlags...), "flush-target", "merge", "replay-mode",
	"on-unknown-module", "on-unholdable-functions", "on-unholdable-field-ttl", "on-unholdable-module", "on-unholdable-idmp",
	"on-target-error", "batch-commands", "batch-bytes", "log-level", "log-format",
	"status-addr", "status-token-file", "max-bytes-per-second")

type scanFlags struct {
	configFile               string
	live                     bool
	count, rate, chunk       int
	maxDirty                 int
	streamPoll, maxStreams   int
	bigKeyBytes, bigKeyElems int64
	coalesce, bigCoalesce    time.Duration
	settle                   time.Duration
}

func newScanCommand() *cobra.Command {
	var f scanFlags
	cmd := &cobra.Command{
		Use:   "scan --source URL --target URL [--live]",
		Short: "Copy the source into the target with SCAN and DUMP (for sources that refuse SYNC/PSYNC), and with --live keep it current",
		Long: "scan copies every key of a source that refuses replication (ElastiCache, Memorystore, Azure Cache...)\n" +
			"with SCAN: small keys as DUMP + RESTORE ... ABSTTL REPLACE where the target reads the source's dump\n" +
			"format, rebuilt by commands where it does not (a downgrade); big keys page by page with the type's\n" +
			"own reads, in bounded memory. Keyspace notifications (turned on for the run with CONFIG SET where\n" +
			"allowed, and put back on exit) mark keys changed during the copy, which are copied again; with\n" +
			"--live they keep the target current until SIGTERM. The SCAN cursor is checkpointed in the target,\n" +
			"so a restart continues the pass. The status server of sync (status-addr) serves /status, /metrics and\n" +
			"PUT /limits (the rate, changed at run time); redferry status reads it. Either side may be a node of a\n" +
			"cluster: every master of a source cluster is SCANned, keys go to the master of their slot of a target\n" +
			"cluster (db 0 only). The filters of sync apply (filter-dbs, db-map, filter-keys-allow, filter-keys-deny,\n" +
			"filter-types-drop; filter-commands-drop has no meaning here and is ignored). What this mode cannot guarantee: see \"Scan mode\" in the README;\n" +
			"redferry verify --rounds 3 reports what still differs.",
		Example: "  redferry scan --source rediss://master.cache.example:6379 --target redis://10.0.0.2:6379\n" +
			"  redferry scan --config /etc/redferry/redferry.toml --live --rate 20000",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runScan(cmd, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.configFile, "config", "", "TOML config file of a sync: its servers, passwords, TLS and batch settings are used")
	scratch := config.Default()
	all := pflag.NewFlagSet("sync", pflag.ContinueOnError)
	scratch.RegisterFlags(all)
	for _, name := range scanSharedFlags {
		if fv := all.Lookup(name); fv != nil && fl.Lookup(name) == nil {
			fl.AddFlag(fv)
		}
	}
	fl.BoolVar(&f.live, "live", false, "after the copy, keep the target current from keyspace notifications until SIGTERM")
	fl.IntVar(&f.count, "scan-count", 500, "SCAN COUNT: keys asked for per SCAN call")
	fl.IntVar(&f.rate, "rate", 0, "at most this many keys per second read from the source (0: max-ops-per-second, else no limit), to spare it; "+
		"PUT /limits on the status server changes it while the scan runs")
	fl.Int64Var(&f.bigKeyBytes, "big-key-bytes", 4<<20, "keys above this MEMORY USAGE are copied page by page, not with one DUMP")
	fl.Int64Var(&f.bigKeyElems, "big-key-elements", 20000, "where MEMORY USAGE is refused: keys with more elements are copied page by page")
	fl.IntVar(&f.chunk, "chunk", 1000, "elements per paged read of a big key (and KiB per GETRANGE of a big string)")
	fl.DurationVar(&f.coalesce, "coalesce", 100*time.Millisecond, "gather the notifications of a key this long before copying it again")
	fl.DurationVar(&f.bigCoalesce, "big-key-coalesce", 2*time.Second, "the same for big keys: a big key is copied again at most once per this time")
	fl.IntVar(&f.maxDirty, "max-dirty", 100000, "keys waiting to be copied again; past it they are dropped and a new pass runs instead")
	fl.IntVar(&f.streamPoll, "stream-poll", 1000, "streams polled per second for consumer-group changes (XREADGROUP, XACK, XCLAIM send no notification)")
	fl.IntVar(&f.maxStreams, "max-streams", 100000, "streams watched for consumer-group changes; past it they are caught up by passes only")
	fl.DurationVar(&f.settle, "settle-timeout", 30*time.Second, "without --live: how long to go on copying keys that changed during the pass once it is over")
	return cmd
}

func runScan(cmd *cobra.Command, f scanFlags) error {
	cfg, err := config.Load(f.configFile, os.LookupEnv, cmd.Flags())
	if err != nil {
		return err
	}
	if err := errors.Join(cfg.Validate(), cfg.ValidateStatusServer()); err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	if err := cfg.ResolvePasswords(); err != nil {
		return err
	}
	log, level, err := newLogger(cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return err
	}
	defer log.Sync()
	ctx := cmd.Context()

	srcEP, err := cfg.SourceEndpoint()
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	dstEP, err := cfg.TargetEndpoint()
	if err != nil {
		return fmt.Errorf("target: %w", err)
	}
	dstTLS, err := cfg.TargetTLS()
	if err != nil {
		return err
	}
	srcOpts, err := cfg.SourceClient()
	if err != nil {
		return err
	}
	dstOpts, err := cfg.TargetClient()
	if err != nil {
		return err
	}
	// Before anything is written: the target must not be the source, nor a replica.
	if err := interlock.CheckSync(ctx, interlock.Endpoint{Name: srcEP.String(), Client: srcOpts},
		interlock.Endpoint{Name: dstEP.String(), Client: dstOpts}, log); err != nil {
		return err
	}
	policy, err := cfg.UnholdablePolicy()
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	filter, err := cfg.Filter()
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	if len(cfg.FilterCommandsDrop) > 0 {
		log.Info("filter-commands-drop has no meaning for a scan (it copies keys, not commands): ignored",
			zap.Strings("filter_commands_drop", cfg.FilterCommandsDrop))
	}
	tracker := status.NewTracker(srcEP.String(), dstEP.String())
	tracker.SetScan(status.ScanReport{})
	recorder := unholdable.NewRecorder(log, tracker.AddUnholdable)
	limits := scanLimits(cfg, f.rate)
	stateKey := cfg.CheckpointKey
	if stateKey == "" {
		stateKey = checkpoint.KeyPrefix + cfg.Name + ":scan"
	}
	opt := scan.Options{Source: srcOpts, TargetCtl: dstOpts, SourceName: srcEP.String(), TargetName: dstEP.String(),
		Target: targetSinkConfig(dstEP, dstOpts, sink.Config{Username: dstEP.Username, Password: dstEP.Password, TLS: dstTLS,
			OnError: cfg.OnTargetError, DialTimeout: cfg.DialTimeout, IOTimeout: cfg.IOTimeout, Logger: log}),
		StateKey: stateKey, Live: f.live, FlushTarget: cfg.FlushTarget, Merge: cfg.Merge,
		ScanCount: f.count, Limits: limits, BigKeyBytes: f.bigKeyBytes, BigKeyElements: f.bigKeyElems, Chunk: f.chunk,
		Coalesce: f.coalesce, BigKeyCoalesce: f.bigCoalesce, MaxDirty: f.maxDirty, SettleTimeout: f.settle,
		StreamPoll: f.streamPoll, MaxStreams: f.maxStreams,
		Filter: filter, OnFiltered: tracker.AddFilteredKey,
		ReplayMode: cfg.ReplayMode, Unholdable: transform.Unholdable{Policy: policy, Recorder: recorder},
		BatchCommands: cfg.BatchCommands, BatchBytes: cfg.BatchBytes, Progress: scanProgress(tracker), Logger: log}
	defer recorder.Summary()
	if err := serveScanStatus(ctx, cfg, tracker, limits, &level, log); err != nil {
		return err
	}
	log.Info("redferry scan starting", zap.String("source", srcEP.String()), zap.String("target", dstEP.String()),
		zap.Bool("live", f.live), zap.String("state_key", stateKey), zap.String("version", version))
	start := time.Now()
	st, err := scan.Run(ctx, opt)
	tracker.SetScan(scanReport(st))
	tracker.SetPhase(status.PhaseStopped)
	tracker.SetError(err)
	fields := []zap.Field{zap.Int("passes", st.Pass), zap.Int64("copied", st.Copied), zap.Int64("big", st.Big),
		zap.Int64("deleted", st.Deleted), zap.Int64("filtered_out", st.Filtered), zap.Int64("events", st.Events), zap.Int("rescans", st.Rescans), zap.Int("topology_changes", st.Topology),
		zap.Int64("pass_copied", st.PassCopied), zap.Int("dirty", st.Dirty), zap.Duration("took", time.Since(start))}
	if peak := peakRSS(); peak > 0 {
		fields = append(fields, zap.Int64("peak_rss_bytes", peak))
	}
	if err != nil {
		log.Error("scan stopped", append(fields, zap.Error(err))...)
		return err
	}
	log.Info("scan stopped cleanly", fields...)
	return nil
}
