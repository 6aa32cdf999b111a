package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/config"
	"github.com/redferry/redferry/pkg/interlock"
	"github.com/redferry/redferry/pkg/ratelimit"
	"github.com/redferry/redferry/pkg/replay"
	"github.com/redferry/redferry/pkg/server"
	"github.com/redferry/redferry/pkg/status"
	"github.com/redferry/redferry/pkg/unholdable"
	"github.com/redferry/redferry/sink"
	"github.com/redferry/redferry/transform"
)

func newRestoreCommand() *cobra.Command {
	var configFile string
	flagDefaults := config.Default()
	cmd := &cobra.Command{
		Use:   "restore --target URL FILE.rdb|-",
		Short: "Load an RDB snapshot file (or stdin) into a live target",
		Long: "restore loads the keys of an RDB file into a running target without stopping it, with the\n" +
			"same replay modes as sync (replay-mode: RESTORE where the target reads the file's RDB version,\n" +
			"commands otherwise). A target that holds keys needs --flush-target or --merge. Of the shared\n" +
			"settings it uses the target ones, flush-target, merge, replay-mode, on-unholdable-*,\n" +
			"on-target-error, batch-commands, batch-bytes, the filters (filter-dbs, db-map, filter-keys-allow,\n" +
			"filter-keys-deny, filter-types-drop), the rate limits, timeouts, logging and progress.",
		Example: "  redferry restore --target redis://10.0.0.2:6379 dump.rdb\n" +
			"  ssh db1 cat /var/lib/redis/dump.rdb | redferry restore --target redis://10.0.0.2:6379 --merge -",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := config.Load(configFile, os.LookupEnv, cmd.Flags())
			if err != nil {
				return err
			}
			if cfg.Source == "" {
				cfg.Source = cfg.Target // restore has no source; this keeps Validate's other checks
			}
			if err := cfg.Validate(); err != nil {
				return fmt.Errorf("configuration:\n%w", err)
			}
			log, _, err := newLogger(cfg.LogLevel, cfg.LogFormat)
			if err != nil {
				return err
			}
			defer log.Sync()
			return runRestore(cmd.Context(), cfg, args[0], log)
		},
	}
	cmd.Flags().StringVar(&configFile, "config", "", "TOML config file (see configs/redferry.toml)")
	flagDefaults.RegisterFlags(cmd.Flags())
	return cmd
}

func runRestore(ctx context.Context, cfg config.Config, file string, log *zap.Logger) error {
	if err := cfg.ResolvePasswords(); err != nil {
		return err
	}
	dst, err := cfg.TargetEndpoint()
	if err != nil {
		return fmt.Errorf("target: %w", err)
	}
	dstTLS, err := cfg.TargetTLS()
	if err != nil {
		return err
	}
	filter, err := cfg.Filter()
	if err != nil {
		return err
	}
	limits := ratelimit.New(cfg.MaxOpsPerSecond, cfg.MaxBytesPerSecond)
	in, size, err := openSnapshot(file)
	if err != nil {
		return err
	}
	defer in.Close()

	ctlOpts, err := cfg.TargetClient()
	if err != nil {
		return err
	}
	// Before anything is written: a replica must not be restored into.
	if err := interlock.CheckRestore(ctx, interlock.Endpoint{Name: dst.String(), Client: ctlOpts}); err != nil {
		return err
	}
	st, err := sink.Open(ctx, targetSinkConfig(dst, ctlOpts, sink.Config{Username: dst.Username, Password: dst.Password, TLS: dstTLS,
		OnError: cfg.OnTargetError, OnCrossSlot: cfg.OnCrossSlot, DialTimeout: cfg.DialTimeout, IOTimeout: cfg.IOTimeout, Logger: log}))
	if err != nil {
		return fmt.Errorf("target %s: %w", dst, err)
	}
	defer st.Close()
	// The emptiness check and the flush cover every master of a cluster.
	addrs := []string{ctlOpts.Addr}
	if cl, ok := st.(*sink.Cluster); ok {
		addrs = cl.Masters()
	}
	var ctls []*redis.Client
	for _, addr := range addrs {
		o := ctlOpts
		o.Addr = addr
		c := server.NewClient(o)
		defer c.Close()
		ctls = append(ctls, c)
	}
	deleteFirst, err := prepareTarget(ctx, ctls, cfg, dst.String())
	if err != nil {
		return err
	}

	policy, err := cfg.UnholdablePolicy()
	if err != nil {
		return err
	}
	tracker := status.NewTracker(file, dst.String())
	recorder := unholdable.NewRecorder(log, tracker.AddUnholdable)
	tracker.SetPhase(status.PhaseSnapshotReplay)
	tracker.SetSnapshotSize(size)
	stopProgress := startProgress(cfg.Progress, tracker)
	defer stopProgress()

	log.Info("restoring", zap.String("file", file), zap.Int64("bytes", size), zap.String("target", dst.String()),
		zap.String("replay_mode", cfg.ReplayMode), zap.Bool("merge", deleteFirst))
	start := time.Now()
	var stats transform.RestoreStats
	b := &sink.Batch{}
	flush := func(ctx context.Context, b *sink.Batch, _ int64, db int) error {
		n := b.Len()
		if err := limits.Wait(ctx, n, b.Size()); err != nil {
			return err
		}
		if err := st.Apply(ctx, b); err != nil {
			return err
		}
		tracker.AddCommands(int64(n))
		b.Reset()
		b.StartDB = db
		return nil
	}
	progress := func(keys, pos int64) {
		tracker.SetKeysApplied(keys)
		tracker.SetSnapshotApplied(pos)
	}
	// A file (unlike a replication snapshot) may come from a tool that
	// wrote a key twice: refused, as Redis refuses to load it.
	batchCommands, batchBytes := limits.Caps(cfg.BatchCommands, cfg.BatchBytes)
	res, err := replay.Snapshot(ctx, in, st.Server(), replay.SnapshotOptions{DeleteFirst: deleteFirst,
		BatchCommands: batchCommands, BatchBytes: batchBytes, Mode: cfg.ReplayMode,
		Unholdable:   transform.Unholdable{Policy: policy, Recorder: recorder},
		ProbeRestore: st.ProbeRestore, RefuseDuplicates: true, Stats: &stats, Logger: log, Filter: filter,
		OnFiltered: tracker.AddFilteredKey}, b, flush, progress)
	if err == nil {
		err = flush(ctx, b, 0, 0)
	}
	if err != nil {
		return fmt.Errorf("restoring %s into %s: %w", file, dst, duplicateHint(err, deleteFirst))
	}
	stopProgress()
	recorder.Summary()
	var filtered int64
	if f := tracker.Report().Filtered; f != nil {
		for _, n := range f.Keys {
			filtered += n
		}
	}
	log.Info("restore done", zap.Int64("keys", res.Keys), zap.Int64("filtered_out", filtered), zap.Int64("restored", stats.Restored), zap.Int64("reencoded", stats.Reencoded),
		zap.Int64("rebuilt", stats.Rebuilt), zap.Int64("skipped_module", stats.SkippedModule), zap.Int64("skipped_empty", stats.SkippedEmpty),
		zap.Int64("skipped_module_aux", stats.SkippedModuleAux), zap.Duration("took", time.Since(start)))
	return nil
}

// duplicateHint explains the BUSYKEY a fresh target answers for a key the
// file stores twice (sink.RestoreOptions.RefuseDuplicates).
func duplicateHint(err error, merge bool) error {
	var te *sink.TargetError
	if merge || !errors.As(err, &te) || !strings.HasPrefix(te.Message, "BUSYKEY") {
		return err
	}
	return fmt.Errorf("the file stores key %q more than once in a db (Redis refuses to load it too: \"RDB has duplicated "+
		"key\"); fix the tool that wrote it: %w", te.Key, err)
}

// openSnapshot opens file ("-": stdin) and returns its size (0 when unknown).
func openSnapshot(file string) (io.ReadCloser, int64, error) {
	if file == "-" {
		return io.NopCloser(bufio.NewReaderSize(os.Stdin, 1<<20)), 0, nil
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return struct {
		io.Reader
		io.Closer
	}{bufio.NewReaderSize(f, 1<<20), f}, fi.Size(), nil
}

// prepareTarget applies --flush-target / --merge as sync does: a target
// that holds keys needs one of them. It returns whether keys must be
// deleted before they are written (merge).
func prepareTarget(ctx context.Context, ctls []*redis.Client, cfg config.Config, name string) (deleteFirst bool, err error) {
	var n int64
	for _, c := range ctls {
		info, err := c.Info(ctx, "keyspace").Result()
		if err != nil {
			return false, fmt.Errorf("INFO keyspace on the target %s: %w", name, err)
		}
		for _, line := range strings.Split(info, "\n") {
			_, rest, ok := strings.Cut(strings.TrimSpace(line), ":keys=")
			if !ok {
				continue
			}
			v, _, _ := strings.Cut(rest, ",")
			k, _ := strconv.ParseInt(v, 10, 64)
			n += k
		}
	}
	switch {
	case n == 0:
		return false, nil
	case cfg.FlushTarget:
		for _, c := range ctls {
			if err := c.FlushAll(ctx).Err(); err != nil {
				return false, fmt.Errorf("FLUSHALL on the target %s: %w", name, err)
			}
		}
		return false, nil
	case cfg.Merge:
		return true, nil
	}
	return false, fmt.Errorf("the target %s holds %d keys: give --flush-target to empty it first, or --merge to keep "+
		"its keys (same-named keys are replaced)", name, n)
}
