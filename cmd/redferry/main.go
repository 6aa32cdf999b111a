// Command redferry syncs a Redis or Valkey server into another one, the way
// a replica does, and keeps syncing until the operator cuts over.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// version is set at build time (-ldflags "-X main.version=...").
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := newRootCommand().ExecuteContext(ctx); err != nil {
		var exit exitCode
		if errors.As(err, &exit) {
			os.Exit(int(exit))
		}
		fmt.Fprintln(os.Stderr, "redferry:", err)
		os.Exit(1)
	}
}

// exitCode ends the program with a status and no further message.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "redferry",
		Short: "Replica-style streaming sync from one Redis/Valkey server to another",
		Long: "redferry connects to a source server as a replica, copies its snapshot and then its live\n" +
			"command stream into a target server, and resumes exactly where it stopped after a restart.",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newSyncCommand(), newVerifyCommand(), newStatusCommand(), newCutoverCommand(), newRestoreCommand(), newRDBCommand(), newScanCommand())
	return root
}
