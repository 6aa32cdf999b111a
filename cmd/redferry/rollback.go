package main

import (
	"fmt"
	"io"
	"net/url"
	"time"

	"github.com/spf13/cobra"

	"github.com/redferry/redferry/pkg/cutover"
	"github.com/redferry/redferry/pkg/rollback"
)

func newRollbackCommand() *cobra.Command {
	var pause, timeout time.Duration
	var sc *statusClient
	cmd := &cobra.Command{
		Use:   "rollback [--pause 10s]",
		Short: "Switch back to the old source after a cutover with --keep-rollback, without a full sync",
		Long: "rollback asks the running `redferry sync`, whose reverse link keeps the old source current after a\n" +
			"`redferry cutover --keep-rollback`, to pause writes on the target for --pause (CLIENT PAUSE, which ends on\n" +
			"its own), wait until the old source has applied everything the target holds, and stop the reverse link.\n" +
			"Then switch your clients back to the old source before the pause ends. Restart `redferry sync` afterwards\n" +
			"to sync forward again: it resumes past the reverse link's writes when the old source's backlog allows.",
		Example: "  redferry rollback --pause 10s\n" +
			"  redferry rollback --pause 10s --status-addr 10.0.0.5:9470 --status-token-file /etc/redferry/status.token",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := sc.resolve(); err != nil {
				return err
			}
			q := url.Values{}
			q.Set("pause", pause.String())
			q.Set("timeout", timeout.String())
			var res rollback.Result
			if err := sc.post("rollback", q, timeout+40*time.Second, &res); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			for _, n := range res.Notes {
				fmt.Fprintln(out, "note:", n)
			}
			fmt.Fprintf(out, "the old source is current at offset %d (of the target's stream); switch clients back now\n", res.TargetOffset)
			if res.Paused {
				fmt.Fprintf(out, "target writes paused (%s) until %s (%.1fs from now); the pause ends on its own\n",
					res.PauseMode, res.PauseEnds.Local().Format("15:04:05.000"), time.Until(res.PauseEnds).Seconds())
			}
			fmt.Fprintf(out, "the reverse link stopped; restart `redferry sync` (same config and state dir) to sync forward again: "+
				"it resumes after the old source's offset %d if the old source's backlog still holds it, else it needs a full sync and says so\n", res.ResumeOffset)
			return nil
		},
	}
	sc = newStatusClient(cmd, true)
	cmd.Flags().DurationVar(&pause, "pause", rollback.DefaultPause, "pause the target's writes for this long (CLIENT PAUSE WRITE; at most "+cutover.MaxPause.String()+")")
	cmd.Flags().DurationVar(&timeout, "timeout", time.Minute, "give up when the old source is not current after this long")
	return cmd
}

// printKept says what a cutover with --keep-rollback prepared.
func printKept(w io.Writer, k *cutover.Kept) {
	fmt.Fprintf(w, "rollback kept: the forward sync stopped at the old source's offset %d; the reverse link copies the target's writes after its offset %d (replid %s) into the old source\n",
		k.SourceOffset, k.TargetOffset, k.TargetReplID)
	fmt.Fprintf(w, "reverse link start: %s (cost: %s)\n", k.Path, k.Cost)
	fmt.Fprintln(w, "to switch back: redferry rollback --pause 10s")
}
