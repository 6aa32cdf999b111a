package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sort"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/config"
	"github.com/redferry/redferry/pkg/cutover"
	"github.com/redferry/redferry/pkg/rollback"
	"github.com/redferry/redferry/pkg/status"
	"github.com/redferry/redferry/pkg/syncer"
)

func newSyncCommand() *cobra.Command {
	var configFile string
	var answer rejectedAnswer
	flagDefaults := config.Default()
	cmd := &cobra.Command{
		Use:   "sync --source URL --target URL",
		Short: "Copy the source into the target and keep it in sync (until SIGTERM, or --once)",
		Example: "  redferry sync --source redis://10.0.0.1:6379 --target redis://10.0.0.2:6379 --state-dir /var/lib/redferry\n" +
			"  redferry sync --config /etc/redferry/redferry.toml --once",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(configFile, os.LookupEnv, cmd.Flags())
			if err != nil {
				return err
			}
			if err := errors.Join(cfg.Validate(), cfg.ValidateStatusServer()); err != nil {
				return fmt.Errorf("configuration:\n%w", err)
			}
			log, level, err := newLogger(cfg.LogLevel, cfg.LogFormat)
			if err != nil {
				return err
			}
			defer log.Sync()
			return runSync(cmd, cfg, answer, log, &level)
		},
	}
	cmd.Flags().StringVar(&configFile, "config", "", "TOML config file (see configs/redferry.toml)")
	// Flags of this run only, not settings: see syncer.Options.RetryRejected.
	cmd.Flags().BoolVar(&answer.retry, "retry-rejected", false,
		"apply the command(s) the target rejected, recorded with the checkpoint, once more (after fixing the target), then continue")
	cmd.Flags().Int64SliceVar(&answer.skip, "skip-rejected", nil,
		"go on without the rejected command(s) at these source offsets, as the stop message names them (their writes are lost); "+
			"with --retry-rejected, the others are retried")
	flagDefaults.RegisterFlags(cmd.Flags())
	return cmd
}

// rejectedAnswer is the operator's answer to commands the target rejected.
type rejectedAnswer struct {
	retry bool
	skip  []int64
}

func runSync(cmd *cobra.Command, cfg config.Config, answer rejectedAnswer, log *zap.Logger, level *zap.AtomicLevel) error {
	ctx := cmd.Context()
	// The settings that differ from the defaults (and the servers), sorted.
	def := config.Default()
	defaults := def.Redacted()
	settings := cfg.Redacted()
	names := make([]string, 0, len(settings))
	for k, v := range settings {
		if v != defaults[k] || k == "source" || k == "target" || k == "state-dir" {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	fields := make([]zap.Field, 0, len(names)+1)
	for _, k := range names {
		fields = append(fields, zap.String(k, settings[k]))
	}
	log.Info("redferry sync starting", append(fields, zap.String("version", version))...)

	opt, err := syncer.OptionsFromConfig(cfg, log)
	if err != nil {
		return err
	}
	opt.RetryRejected, opt.SkipRejected = answer.retry, answer.skip
	info := sourceInfo(ctx, opt, log)
	if info != nil && info.ClusterEnabled {
		// Each shard's sync reads its own master's INFO.
		return runClusterSync(cmd, cfg, opt, log, level)
	}
	opt.SourceInfo = info
	if len(cfg.Shards) > 0 {
		return fmt.Errorf("shards %v: the source %s is not a cluster node (INFO cluster_enabled is not 1): leave shards out", cfg.Shards, opt.SourceName)
	}
	s, err := syncer.New(ctx, opt)
	if err != nil {
		return err
	}
	defer s.Close()
	s.Tracker().SetReadyMaxLag(cfg.ReadyMaxLag)
	// The controller runs the forward sync, or after a cutover with
	// --keep-rollback the reverse link (rollback.go).
	ctl, err := rollback.New(s, opt)
	if err != nil {
		return err
	}
	if cfg.StatusAddr != "" {
		co, err := cutover.New(cfg, s.Tracker(), log)
		if err != nil {
			return err
		}
		defer co.Close()
		co.SetKeeper(ctl)
		h := status.NewHandler(s.Tracker(), status.HandlerOptions{Level: level,
			Routes: map[string]http.Handler{"POST /cutover": co.Handler(), "POST /rollback": ctl.Handler()},
			Token:  cfg.StatusToken, Log: log, Limits: opt.Limits})
		addr, err := status.Serve(ctx, cfg.StatusAddr, h, log)
		if err != nil {
			return err
		}
		if ta, ok := addr.(*net.TCPAddr); ok && !ta.IP.IsLoopback() {
			log.Info("the status server listens beyond loopback: /status and /metrics are open to whoever reaches it, POST /cutover and PUT /loglevel need the status token",
				zap.String("addr", addr.String()))
		}
	}
	stopNotify := startNotify(s.Tracker(), log)
	stopProgress := startProgress(cfg.Progress, s.Tracker())
	err = ctl.Run(ctx)
	stopProgress()
	stopNotify()
	if err != nil {
		log.Error("sync stopped", zap.Error(err), zap.Int64("offset_applied", s.Tracker().Applied()))
		return err
	}
	r := s.Tracker().Report()
	log.Info("sync stopped cleanly", zap.Int64("offset_applied", r.OffsetApplied), zap.Int64("keys_applied", r.KeysApplied),
		zap.Int64("commands_applied", r.CommandsApplied))
	return nil
}
