package main

import (
	"fmt"
	"io"
	"net/url"
	"sort"
	"time"

	"github.com/spf13/cobra"

	"github.com/redferry/redferry/pkg/cutover"
)

func newCutoverCommand() *cobra.Command {
	var pause, timeout time.Duration
	var keepRollback bool
	var sc *statusClient
	cmd := &cobra.Command{
		Use:   "cutover [--pause 5s]",
		Short: "Make the running sync's target current with the source, optionally pausing the source's writes",
		Long: "cutover asks the running `redferry sync` (on its status address) to wait until the lag is zero,\n" +
			"optionally pause writes on the source for --pause (CLIENT PAUSE, which ends on its own), and wait until\n" +
			"the target has applied the source's master_repl_offset. Then switch your clients to the target\n" +
			"before the pause ends.",
		Example: "  redferry cutover --pause 10s\n" +
			"  redferry cutover --pause 10s --keep-rollback\n" +
			"  redferry cutover --pause 10s --status-addr 10.0.0.5:9470 --status-token-file /etc/redferry/status.token",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := sc.resolve(); err != nil {
				return err
			}
			q := url.Values{}
			q.Set("pause", pause.String())
			q.Set("timeout", timeout.String())
			if keepRollback {
				q.Set("keep-rollback", "true")
			}
			var res cutover.ClusterResult // a standalone source's answer has no shards
			if err := sc.post("cutover", q, timeout+10*time.Second, &res); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			for _, n := range res.Notes {
				fmt.Fprintln(out, "note:", n)
			}
			if k := res.Rollback; k != nil {
				printKept(out, k)
			}
			if len(res.Shards) > 0 {
				printShards(out, res.Shards)
				fmt.Fprintf(out, "target is current with every shard (%d); switch clients now\n", len(res.Shards))
			} else {
				fmt.Fprintf(out, "target is current at offset %d; switch clients now\n", res.Offset)
			}
			if res.Paused {
				fmt.Fprintf(out, "source writes paused (%s) until %s (%.1fs from now); the pause ends on its own\n",
					res.PauseMode, res.PauseEnds.Local().Format("15:04:05.000"), time.Until(res.PauseEnds).Seconds())
			} else {
				fmt.Fprintln(out, "source writes were not paused: writes after this offset still reach the target through the running sync")
			}
			return nil
		},
	}
	sc = newStatusClient(cmd, true)
	cmd.Flags().DurationVar(&pause, "pause", 0, "pause the source's writes for this long (CLIENT PAUSE WRITE; at most "+cutover.MaxPause.String()+")")
	cmd.Flags().DurationVar(&timeout, "timeout", time.Minute, "give up when the target is not current after this long")
	cmd.Flags().BoolVar(&keepRollback, "keep-rollback", false, "stop the forward sync at the cutover and keep the old source current with the target's writes "+
		"(a reverse link, no full sync), so that `redferry rollback` can switch back; needs --pause and checkpoint = target")
	return cmd
}

// printShards says, per shard of a cluster source, which offset was reached.
func printShards(out io.Writer, shards map[string]cutover.Result) {
	names := make([]string, 0, len(shards))
	for n := range shards {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(out, "shard %s: current at offset %d\n", n, shards[n].Offset)
	}
}
