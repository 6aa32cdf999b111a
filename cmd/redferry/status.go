package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/redferry/redferry/pkg/status"
	"github.com/redferry/redferry/pkg/unholdable"
)

func newStatusCommand() *cobra.Command {
	var sc *statusClient
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the state of the running sync or scan (phase, offsets or pass, lag, counters)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := sc.resolve(); err != nil {
				return err
			}
			client := &http.Client{Timeout: 10 * time.Second}
			base := "http://" + sc.addr
			resp, err := client.Get(base + "/status")
			if err != nil {
				return fmt.Errorf("cannot reach the sync's status server at %s (is `redferry sync` or `redferry scan` running with this status-addr?): %w", sc.addr, err)
			}
			defer resp.Body.Close()
			var r status.Report
			if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&r); err != nil {
				return fmt.Errorf("status: unexpected answer from %s: %w", base, err)
			}
			ready := "unknown"
			if rr, err := client.Get(base + "/readyz"); err == nil {
				b, _ := io.ReadAll(io.LimitReader(rr.Body, 4096))
				rr.Body.Close()
				ready = strings.TrimSpace(string(b))
				if rr.StatusCode == http.StatusOK {
					ready = "yes (" + ready + ")"
				} else {
					ready = "no (" + ready + ")"
				}
			}
			printStatus(cmd.OutOrStdout(), r, ready)
			return nil
		},
	}
	sc = newStatusClient(cmd, false)
	return cmd
}

func printStatus(w io.Writer, r status.Report, ready string) {
	row := func(name, format string, args ...any) {
		fmt.Fprintf(w, "%-18s %s\n", name+":", fmt.Sprintf(format, args...))
	}
	row("phase", "%s", r.Phase)
	row("ready", "%s", ready)
	if r.Scan != nil {
		printScanStatus(row, r)
		return
	}
	row("source", "%s (replid %s)", r.Source, r.ReplID)
	row("target", "%s", r.Target)
	row("offset received", "%d", r.OffsetReceived)
	row("offset applied", "%d", r.OffsetApplied)
	row("lag", "%d bytes, %.1fs", r.LagBytes, r.LagSeconds)
	if r.SnapshotSize > 0 || r.Phase == status.PhaseSnapshotDownload || r.Phase == status.PhaseSnapshotReplay {
		pct := 0.0
		if r.SnapshotSize > 0 {
			pct = 100 * float64(r.SnapshotApplied) / float64(r.SnapshotSize)
		}
		row("snapshot", "%s received, %s of %s applied (%.0f%%)", bytesText(r.SnapshotReceived), bytesText(r.SnapshotApplied), bytesText(r.SnapshotSize), pct)
	}
	row("keys applied", "%d", r.KeysApplied)
	row("commands applied", "%d", r.CommandsApplied)
	row("target errors", "%d", r.TargetErrors)
	row("reconnects", "%d", r.Reconnects)
	if u := unholdableText(r.Unholdable); u != "" {
		row("not holdable", "%s", u)
	}
	row("spool", "%s", bytesText(r.SpoolBytes))
	printShardRows(w, r)
	printCommonStatus(row, r, "commands/s")
}

// printCommonStatus prints the rows a sync and a scan share: the rate
// limits (ops in unit), the filters, the uptime, the last error.
func printCommonStatus(row func(name, format string, args ...any), r status.Report, unit string) {
	if l := r.Limits; l != nil && (l.MaxOpsPerSecond > 0 || l.MaxBytesPerSecond > 0) {
		row("rate limits", "%s %s, %s/s (waited %.1fs)", limitText(l.MaxOpsPerSecond, strconv.FormatInt(l.MaxOpsPerSecond, 10)), unit,
			limitText(l.MaxBytesPerSecond, bytesText(l.MaxBytesPerSecond)), l.ThrottledSeconds)
	}
	if f := r.Filtered; f != nil {
		row("filtered out", "keys %v, commands %v, commands in part %v", f.Keys, f.Commands, f.CommandsNarrowed)
	}
	if rb := r.Rollback; rb != nil {
		printRollback(row, rb)
	}
	row("uptime", "%s", (time.Duration(r.UptimeSeconds) * time.Second).String())
	if r.LastError != "" {
		row("last error", "%s", r.LastError)
	}
}

// printScanStatus prints the rows of a `redferry scan`.
func printScanStatus(row func(name, format string, args ...any), r status.Report) {
	s := r.Scan
	row("source", "%s", r.Source)
	row("target", "%s", r.Target)
	if s.PassPhase == "copy" || s.PassPhase == "prune" {
		pct := 0.0
		if s.SourceKeys > 0 {
			pct = min(100, 100*float64(s.PassKeysCopied)/float64(s.SourceKeys))
		}
		row("pass", "%d, %s: %d of %d source keys copied (%.0f%%)", s.Pass, s.PassPhase, s.PassKeysCopied, s.SourceKeys, pct)
	} else {
		row("pass", "%d, complete (%s): %d keys copied, %d keys on the source", s.Pass, s.PassPhase, s.PassKeysCopied, s.SourceKeys)
	}
	row("keys", "%d scanned, %d copied (%d big, page by page), %d deleted", s.KeysScanned, s.KeysCopied, s.BigKeysCopied, s.KeysDeleted)
	row("changed keys", "%d waiting to be copied again (%d notifications, %d extra passes)", s.DirtyKeys, s.Events, s.Rescans)
	if u := unholdableText(r.Unholdable); u != "" {
		row("not holdable", "%s", u)
	}
	printCommonStatus(row, r, "keys/s")
}

// limitText is text, or "no limit" for 0.
func limitText(n int64, text string) string {
	if n == 0 {
		return "no limit"
	}
	return text
}

func bytesText(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	f := float64(n)
	i := 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.1f %s", f, units[i])
}

// unholdableText lists the skips and conversions of data the target cannot
// hold, e.g. "field-ttl converted 3, module skipped 1" ("" when none).
func unholdableText(counts map[string]map[string]int64) string {
	var parts []string
	for _, k := range unholdable.Kinds {
		for _, a := range k.Actions()[1:] {
			if n := counts[string(k)][string(a)]; n > 0 {
				verb := map[unholdable.Action]string{unholdable.Skip: "skipped", unholdable.Convert: "converted"}[a]
				parts = append(parts, fmt.Sprintf("%s %s %d", k, verb, n))
			}
		}
	}
	return strings.Join(parts, ", ")
}
