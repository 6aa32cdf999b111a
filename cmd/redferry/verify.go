package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/redferry/redferry/pkg/config"
	"github.com/redferry/redferry/pkg/verify"
)

func newVerifyCommand() *cobra.Command {
	var (
		source, target, report string
		tolerance              time.Duration
	)
	cmd := &cobra.Command{
		Use:   "verify --source URL --target URL",
		Short: "Compare every key of the source and the target; exit 1 when they differ",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			src, err := endpointFlag("source", source, "REDFERRY_SOURCE_PASSWORD")
			if err != nil {
				return err
			}
			dst, err := endpointFlag("target", target, "REDFERRY_TARGET_PASSWORD")
			if err != nil {
				return err
			}
			sc, dc := verifyClient(src), verifyClient(dst)
			defer sc.Close()
			defer dc.Close()
			rep, err := verify.Compare(cmd.Context(), sc, dc, verify.Options{TTLTolerance: tolerance,
				IgnoreKeys: func(_ int, key string) bool { return strings.HasPrefix(key, "redferry:checkpoint:") }})
			if err != nil {
				return err
			}
			if report != "" {
				if err := writeReport(report, rep); err != nil {
					return err
				}
			}
			out := cmd.OutOrStdout()
			for _, d := range rep.Diffs {
				fmt.Fprintf(out, "db%d %q: %s: %s\n", d.DB, d.Key, d.Kind, d.Detail)
			}
			if rep.Equal() {
				fmt.Fprintf(out, "equal: %d keys checked, no difference\n", rep.KeysChecked)
				return nil
			}
			fmt.Fprintf(out, "DIFFERENT: %d differences in %d keys checked\n", rep.DiffCount, rep.KeysChecked)
			return exitCode(1)
		},
	}
	cmd.Flags().StringVar(&source, "source", "", "source URL redis://[user:password@]host:port (env REDFERRY_SOURCE)")
	cmd.Flags().StringVar(&target, "target", "", "target URL (env REDFERRY_TARGET)")
	cmd.Flags().DurationVar(&tolerance, "ttl-tolerance", 2*time.Second, "how far two TTLs may differ")
	cmd.Flags().StringVar(&report, "report", "", "write each difference as a JSON line to this file")
	return cmd
}

// endpointFlag takes a URL from a flag or REDFERRY_<NAME>, with the password
// from passwordEnv when set.
func endpointFlag(name, flagValue, passwordEnv string) (config.Endpoint, error) {
	if flagValue == "" {
		flagValue = os.Getenv(config.EnvName(name))
	}
	if flagValue == "" {
		return config.Endpoint{}, fmt.Errorf("--%s is missing: give a URL such as redis://host:port", name)
	}
	ep, err := config.ParseURL(flagValue)
	if err != nil {
		return ep, fmt.Errorf("--%s: %w", name, err)
	}
	if pw := os.Getenv(passwordEnv); pw != "" {
		ep.Password = pw
	}
	return ep, nil
}

func verifyClient(ep config.Endpoint) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: ep.Addr, Username: ep.Username, Password: ep.Password,
		Protocol: 2, MaxRetries: -1, DisableIdentity: true, ReadTimeout: 30 * time.Second})
}

func writeReport(path string, rep verify.Report) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--report: %w", err)
	}
	enc := json.NewEncoder(f)
	for _, d := range rep.Diffs {
		if err := enc.Encode(d); err != nil {
			f.Close()
			return fmt.Errorf("--report %s: %w", path, err)
		}
	}
	return f.Close()
}
