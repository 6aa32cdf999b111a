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

	"github.com/redferry/redferry/pkg/syncer"
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
		os.Exit(exitStatus(err))
	}
}

// Exit statuses of redferry sync; verify has its own (0 equal, 1 different,
// 2 could not compare).
const (
	// exitFailed: an error; the message says what to do. A restart may help
	// (a target down, a full disk): the systemd unit restarts on it.
	exitFailed = 1
	// exitRejected: stopped at a command the target rejected, or refused to
	// start past one, until the operator answers with --retry-rejected or
	// --skip-rejected. A restart alone cannot help, so the systemd unit
	// does not restart on it (RestartPreventExitStatus=3).
	exitRejected = 3
)

// exitStatus is the status an error of a command ends the program with.
func exitStatus(err error) int {
	if errors.Is(err, syncer.ErrStoppedOnRejection) {
		return exitRejected
	}
	return exitFailed
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
	root.AddCommand(newSyncCommand(), newVerifyCommand(), newStatusCommand(), newCutoverCommand(), newRestoreCommand(), newRDBCommand(), newScanCommand(), newRollbackCommand())
	return root
}
