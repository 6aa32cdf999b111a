package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/clustersource"
	"github.com/redferry/redferry/pkg/config"
	"github.com/redferry/redferry/pkg/cutover"
	"github.com/redferry/redferry/pkg/server"
	"github.com/redferry/redferry/pkg/status"
	"github.com/redferry/redferry/pkg/syncer"
)

// sourceInfo reads the source's INFO once at start-up: it tells whether the
// source is a cluster node (cluster_enabled:1; a cluster is recognised from
// any one of its nodes), and a standalone sync uses it as it is
// (syncer.Options.SourceInfo). nil: the source refused INFO, and is taken
// as standalone.
func sourceInfo(ctx context.Context, opt syncer.Options, log *zap.Logger) *server.Info {
	o := opt.Source
	o.PoolSize = 1
	c := server.NewClient(o)
	defer c.Close()
	info, err := server.Fetch(ctx, c)
	if err != nil {
		log.Warn("cannot tell from INFO whether the source is a cluster node: syncing it as a standalone server", zap.Error(err))
		return nil
	}
	return &info
}

// splitShards accepts --shards 0,2 as well as --shards 0 --shards 2.
func splitShards(in []string) []string {
	var out []string
	for _, s := range in {
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// cutoverShards lists the shards the sync follows now, with their masters.
func cutoverShards(sv *clustersource.Supervisor) []cutover.Shard {
	trackers := sv.Tracker().Shards()
	var out []cutover.Shard
	for name, addr := range sv.Masters() {
		if t := trackers[name]; t != nil {
			out = append(out, cutover.Shard{Name: name, Addr: addr, Tracker: t})
		}
	}
	return out
}

// runClusterSync syncs a cluster source: one link per master (pkg/clustersource).
func runClusterSync(cmd *cobra.Command, cfg config.Config, opt syncer.Options, log *zap.Logger, level *zap.AtomicLevel) error {
	ctx := cmd.Context()
	sv, err := clustersource.New(clustersource.Options{Sync: opt, Shards: splitShards(cfg.Shards), Logger: log,
		Tracker: status.NewTracker(opt.SourceName, opt.TargetName)})
	if err != nil {
		return err
	}
	defer sv.Close()
	tr := sv.Tracker()
	tr.SetReadyMaxLag(cfg.ReadyMaxLag)
	if cfg.StatusAddr != "" {
		co := cutover.NewCluster(opt.Source, func() []cutover.Shard { return cutoverShards(sv) }, log)
		h := status.NewHandler(tr, status.HandlerOptions{Level: level, Routes: map[string]http.Handler{"POST /cutover": co.Handler()},
			Token: cfg.StatusToken, Log: log, Limits: opt.Limits})
		if _, err := status.Serve(ctx, cfg.StatusAddr, h, log); err != nil {
			return err
		}
	}
	log.Info("the source is a cluster: one link per master")
	if err := sv.Run(ctx); err != nil {
		log.Error("sync stopped", zap.Error(err))
		return err
	}
	r := tr.Report()
	log.Info("sync stopped cleanly", zap.Int("shards", len(r.Shards)), zap.Int64("keys_applied", r.KeysApplied),
		zap.Int64("commands_applied", r.CommandsApplied))
	return nil
}

// printShardRows adds one line per shard of a cluster source to
// `redferry status` (the rows above are then the totals).
func printShardRows(w io.Writer, r status.Report) {
	names := make([]string, 0, len(r.Shards))
	for n := range r.Shards {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s := r.Shards[n]
		fmt.Fprintf(w, "%-18s %s, applied %d of %d, lag %d bytes %.1fs, reconnects %d\n", "shard "+shortName(n)+":",
			s.Phase, s.OffsetApplied, s.OffsetReceived, s.LagBytes, s.LagSeconds, s.Reconnects)
	}
}

// shortName abbreviates a 40-character node or shard id as redis-cli does.
func shortName(n string) string {
	if len(n) == 40 {
		return n[:8]
	}
	return n
}
