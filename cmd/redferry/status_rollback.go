package main

import (
	"strconv"

	"github.com/redferry/redferry/pkg/status"
)

// printRollback adds the rollback-ready migration's rows to `redferry status`.
func printRollback(row func(name, format string, args ...any), rb *status.RollbackReport) {
	row("migration phase", "%s", rb.Phase)
	if rb.Phase == status.RollbackForward || rb.Phase == status.RollbackCutover {
		return
	}
	row("cutover at", "old source offset %d (replid %s), target offset %d (replid %s)",
		rb.SourceOffset, rb.SourceReplID, rb.TargetOffset, rb.TargetReplID)
	row("reverse start", "%s (cost: %s)", rb.Path, rb.Cost)
	if rv := rb.Reverse; rv != nil {
		row("reverse link", "%s, target offset received %d, applied %d", rv.Phase, rv.OffsetReceived, rv.OffsetApplied)
		row("reverse lag", "%d bytes, %.1fs", rv.LagBytes, rv.LagSeconds)
		row("reverse commands", "%d", rv.Commands)
		if rv.LastError != "" {
			row("reverse error", "%s", rv.LastError)
		}
	}
	if rb.Phase == status.RollbackRolledBack {
		row("rolled back", "the old source is current at target offset %d; the forward sync resumes after the old source's offset %d",
			rb.RolledBackAt, rb.ResumeOffset)
	}
	if rb.LastError != "" {
		row("hand-over error", "%s", rb.LastError)
	}
}

// rollbackAlive: the forward sync stopped at a rollback-ready cutover and
// the daemon goes on, running the reverse link or waiting once rolled back
// (for the systemd watchdog, which the forward phase alone would let lapse).
func rollbackAlive(rb *status.RollbackReport) bool {
	switch {
	case rb == nil:
		return false
	case rb.Phase == status.RollbackRolledBack:
		return true
	case rb.Phase == status.RollbackReverse:
		return rb.Reverse == nil || rb.Reverse.Phase != status.PhaseStopped
	}
	return false
}

// rollbackNotify is the rollback part of the systemd STATUS= line ("" in
// the forward phase).
func rollbackNotify(rb *status.RollbackReport) string {
	if rb == nil || rb.Phase == status.RollbackForward {
		return ""
	}
	msg := "; " + rb.Phase
	if rv := rb.Reverse; rv != nil && rb.Phase == status.RollbackReverse {
		msg += ", reverse applied " + strconv.FormatInt(rv.OffsetApplied, 10) + ", reverse lag " + strconv.FormatInt(rv.LagBytes, 10) + " bytes"
	}
	return msg
}
