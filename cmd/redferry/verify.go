package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/redferry/redferry/pkg/checkpoint"
	"github.com/redferry/redferry/pkg/config"
	"github.com/redferry/redferry/pkg/interlock"
	"github.com/redferry/redferry/pkg/server"
	"github.com/redferry/redferry/pkg/verify"
)

// verifyConnFlags are the settings of `redferry sync` that verify shares:
// where the servers are and how to reach them, and what the sync does with
// data the target cannot hold (what it skips or converts is expected).
var verifyConnFlags = []string{"on-unholdable-functions", "on-unholdable-field-ttl", "on-unholdable-module",
	"on-unholdable-idmp", "on-unknown-module", "source", "source-password", "source-password-file", "target", "target-password",
	"target-password-file", "source-tls-ca-file", "source-tls-cert-file", "source-tls-key-file", "source-tls-server-name",
	"source-tls-skip-verify", "target-tls-ca-file", "target-tls-cert-file", "target-tls-key-file", "target-tls-server-name",
	"target-tls-skip-verify", "checkpoint-key", "name", "dial-timeout", "io-timeout",
	// The sync's filters: verify compares what they take, each source db with its target db.
	"filter-dbs", "db-map", "filter-keys-allow", "filter-keys-deny", "filter-types-drop"}

type verifyFlags struct {
	configFile, report, progress string
	tolerance, interval          time.Duration
	rounds, rate, sample         int
	dbs                          []int
}

func newVerifyCommand() *cobra.Command {
	var f verifyFlags
	cmd := &cobra.Command{
		Use:   "verify --source URL --target URL",
		Short: "Compare every key of the source and the target; exit 0 when equal, 1 when they differ, 2 on error",
		Long: "verify compares every key of every db of the source and the target in both directions: missing and\n" +
			"extra keys, types, values, TTLs (within --ttl-tolerance), stream entries, groups, consumers and pending\n" +
			"entries, hash field TTLs and functions. Either side may be a cluster (found by INFO cluster). With the\n" +
			"sync's on-unholdable-* settings, what they skip or convert is listed as expected and does not count as a\n" +
			"difference. During a\n" +
			"live sync give --rounds 3: keys found different are checked again --interval apart and reported only\n" +
			"when they still differ. With the sync's filters (--config, or filter-dbs, db-map, filter-keys-allow,\n" +
			"filter-keys-deny, filter-types-drop) it compares what they take, each source db with its target db.\n" +
			"Exit status: 0 equal, 1 different, 2 could not compare.",
		Example: "  redferry verify --source redis://10.0.0.1:6379 --target redis://10.0.0.2:6379 --report diffs.jsonl\n" +
			"  redferry verify --config /etc/redferry/redferry.toml --rounds 3 --rate 20000\n" +
			"  redferry verify --source rediss://src:6380 --source-tls-ca-file ca.pem --target redis://dst:6379 --sample 10000",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			err := runVerify(cmd, f)
			if err != nil {
				if _, ok := err.(exitCode); !ok {
					fmt.Fprintln(cmd.ErrOrStderr(), "redferry verify:", err)
					return exitCode(2)
				}
			}
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.configFile, "config", "", "TOML config file of the sync: its source, target, passwords and TLS settings are used")
	scratch := config.Default()
	all := pflag.NewFlagSet("sync", pflag.ContinueOnError)
	scratch.RegisterFlags(all)
	for _, name := range verifyConnFlags {
		if fv := all.Lookup(name); fv != nil {
			fl.AddFlag(fv)
		}
	}
	fl.DurationVar(&f.tolerance, "ttl-tolerance", 2*time.Second, "how far two TTLs may differ")
	fl.StringVar(&f.report, "report", "", "write each difference as a JSON line to this file")
	fl.IntVar(&f.rounds, "rounds", 1, "check keys found different again, up to this many rounds in all, and report only those still different")
	fl.DurationVar(&f.interval, "interval", 2*time.Second, "time between rounds")
	fl.IntVar(&f.rate, "rate", 0, "at most this many keys per second (0: no limit)")
	fl.IntVar(&f.sample, "sample", 0, "check about this many random keys (RANDOMKEY) per side instead of all")
	fl.IntSliceVar(&f.dbs, "db", nil, "compare only these (source) dbs (default: every db holding keys on either side that the filters take)")
	fl.StringVar(&f.progress, "progress", "auto", "progress bar: auto (on a terminal), always or never")
	return cmd
}

func runVerify(cmd *cobra.Command, f verifyFlags) error {
	cfg, err := config.Load(f.configFile, os.LookupEnv, cmd.Flags())
	if err != nil {
		return err
	}
	if cfg.Source == "" || cfg.Target == "" {
		return fmt.Errorf("--source and --target are needed: give URLs such as redis://host:port (or --config FILE)")
	}
	filter, err := cfg.Filter()
	if err != nil {
		return err
	}
	policy, err := cfg.UnholdablePolicy()
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	if err := checkNotSameServer(ctx, cfg); err != nil {
		return err
	}
	sc, err := verifyClient(ctx, cfg, "source")
	if err != nil {
		return err
	}
	defer sc.Close()
	dc, err := verifyClient(ctx, cfg, "target")
	if err != nil {
		return err
	}
	defer dc.Close()

	opt := verify.Options{TTLTolerance: f.tolerance, Rounds: f.rounds, Interval: f.interval, Rate: f.rate,
		Sample: f.sample, DBs: f.dbs, Filter: filter, Unholdable: policy, IgnoreKeys: func(_ int, key string) bool {
			return strings.HasPrefix(key, checkpoint.KeyPrefix) || cfg.CheckpointKey != "" && key == cfg.CheckpointKey
		}}
	var reportErr error
	if f.report != "" {
		rf, err := os.Create(f.report)
		if err != nil {
			return fmt.Errorf("--report: %w", err)
		}
		defer rf.Close()
		enc := json.NewEncoder(rf)
		opt.OnDiff = func(d verify.Diff) {
			if err := enc.Encode(d); err != nil && reportErr == nil {
				reportErr = fmt.Errorf("--report %s: %w", f.report, err)
			}
		}
	}
	bar := verifyProgress(f.progress, cmd.ErrOrStderr())
	if bar != nil {
		opt.OnProgress = func(done, total int64) {
			if bar.GetMax64() != total {
				bar.ChangeMax64(total)
			}
			_ = bar.Set64(done)
		}
	}
	rep, err := verify.Compare(ctx, sc, dc, opt)
	if bar != nil {
		_ = bar.Finish()
		fmt.Fprintln(cmd.ErrOrStderr())
	}
	if err != nil {
		return err
	}
	if reportErr != nil {
		return reportErr
	}
	printVerify(cmd.OutOrStdout(), rep, f)
	if rep.Equal() {
		return nil
	}
	return exitCode(1)
}

func printVerify(out io.Writer, rep verify.Report, f verifyFlags) {
	for _, d := range rep.Expected {
		fmt.Fprintf(out, "expected (%s): db%d %q: %s: %s\n", d.Expected, d.DB, d.Key, d.Kind, d.Detail)
	}
	if int64(len(rep.Expected)) < rep.ExpectedCount {
		fmt.Fprintf(out, "expected: ... %d more\n", rep.ExpectedCount-int64(len(rep.Expected)))
	}
	for _, d := range rep.Diffs {
		fmt.Fprintf(out, "db%d %q: %s: %s\n", d.DB, d.Key, d.Kind, d.Detail)
	}
	if int64(len(rep.Diffs)) < rep.DiffCount {
		fmt.Fprintf(out, "... %d more differences", rep.DiffCount-int64(len(rep.Diffs)))
		if f.report != "" {
			fmt.Fprintf(out, " (all in %s)", f.report)
		}
		fmt.Fprintln(out)
	}
	what := "keys checked"
	if f.sample > 0 {
		what = "sampled keys checked"
	}
	rounds := ""
	if rep.Rechecked > 0 {
		rounds = fmt.Sprintf("; %d keys checked again, %d of them caught up meanwhile", rep.Rechecked, rep.Settled)
	}
	expected := ""
	if rep.ExpectedCount > 0 {
		expected = fmt.Sprintf("; %d expected differences (data the target cannot hold, skipped or converted by the on-unholdable-* settings)",
			rep.ExpectedCount)
	}
	if rep.Equal() {
		fmt.Fprintf(out, "equal: %d %s, no difference%s%s\n", rep.KeysChecked, what, expected, rounds)
		return
	}
	fmt.Fprintf(out, "DIFFERENT: %d differences in %d %s%s%s\n", rep.DiffCount, rep.KeysChecked, what, expected, rounds)
}

func verifyProgress(mode string, w io.Writer) *progressbar.ProgressBar {
	if mode == "never" || mode == "auto" && !term.IsTerminal(int(os.Stderr.Fd())) {
		return nil
	}
	return progressbar.NewOptions64(-1, progressbar.OptionSetWriter(w), progressbar.OptionSetDescription("verifying"),
		progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("keys"),
		progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionFullWidth())
}

// verifyClient connects to one side: a cluster client when the server says
// cluster_enabled:1, else a standalone client. Retries are off: verify only reads,
// but a retried read after a timeout would hide a server in trouble.
func verifyClient(ctx context.Context, cfg config.Config, side string) (redis.UniversalClient, error) {
	optsFn := cfg.SourceClient
	if side == "target" {
		optsFn = cfg.TargetClient
	}
	opts, err := optsFn()
	if err != nil {
		return nil, err
	}
	c := server.NewClient(opts)
	info, err := server.Fetch(ctx, c)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("%s %s: %w", side, opts.Name(), err)
	}
	if !info.ClusterEnabled {
		return c, nil
	}
	c.Close()
	return server.NewClusterClient(opts), nil
}

// checkNotSameServer refuses to compare a server (or cluster) with itself,
// which would report "equal" for a typo in --target.
func checkNotSameServer(ctx context.Context, cfg config.Config) error {
	var eps [2]interlock.Endpoint
	for i, side := range []struct {
		endpoint func() (config.Endpoint, error)
		client   func() (server.ClientOptions, error)
	}{{cfg.SourceEndpoint, cfg.SourceClient}, {cfg.TargetEndpoint, cfg.TargetClient}} {
		ep, err := side.endpoint()
		if err != nil {
			return err
		}
		opts, err := side.client()
		if err != nil {
			return err
		}
		eps[i] = interlock.Endpoint{Name: ep.String(), Client: opts}
	}
	return interlock.CheckVerify(ctx, eps[0], eps[1])
}
