package sink

import (
	"errors"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrAuth is wrapped when the target refuses the credentials.
var ErrAuth = errors.New("target refused authentication")

// TargetError is a command the target answered with an error.
type TargetError struct {
	Command string // upper case
	Key     []byte // args[1], nil when the command has none
	Offset  int64  // the source offset the command stands for
	Message string // what the target said
	// Applied is true for runtime errors inside EXEC: the rest of the batch
	// (and its checkpoint) was applied. False: nothing of the batch was.
	Applied bool
	// Others counts further failed commands of the same batch.
	Others int
	// Rejected lists every command of the batch the target rejected, in
	// batch order (the one above first among them).
	Rejected []RejectedCommand
}

// RejectedCommand is one command of a batch the target answered with an
// error: what is needed to record it, find it again and retry exactly it.
type RejectedCommand struct {
	Args    [][]byte // the command, parsed (copies)
	Offset  int64    // the source offset it stands for
	Sub     int      // how many commands of the batch before it stand for the same offset
	DB      int      // the db it ran in: the batch's StartDB or the last SELECT before it
	Sum     uint32   // CRC-32C of its exact RESP bytes
	Message string   // what the target said
}

func (e *TargetError) Error() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "target rejected %s", e.Command)
	if e.Key != nil {
		fmt.Fprintf(&sb, " key %q", e.Key)
	}
	fmt.Fprintf(&sb, " at source offset %d: %s", e.Offset, e.Message)
	if e.Others > 0 {
		fmt.Fprintf(&sb, " (and %d more commands)", e.Others)
	}
	if e.Applied {
		sb.WriteString("; the rest of the batch was applied, without this command's write")
	} else {
		sb.WriteString("; nothing of the batch was applied: fix the target (its version, memory or ACL) and start " +
			"redferry again, it continues from this command, or set on-target-error = \"log\" to skip such commands " +
			"(their writes are lost)")
	}
	return sb.String()
}

// ErrOutcomeUnknown: the connection was lost after the batch was sent, and
// the target executed it (its checkpoint is in place) or, for a batch
// without a checkpoint, may have: whether the target rejected a command of
// it cannot be known, that answer was only in the lost reply.
var ErrOutcomeUnknown = errors.New("sink: the batch's replies were lost: whether the target applied or rejected its commands is unknown")

func newTargetError(b *Batch, i int, msg string, applied bool) *TargetError {
	args, off := b.Command(i)
	e := &TargetError{Offset: off, Message: msg, Applied: applied}
	if len(args) > 0 {
		e.Command = strings.ToUpper(string(args[0]))
	}
	switch {
	case e.Command == "EVAL" || e.Command == "EVALSHA" || e.Command == "FCALL":
		// The first key, not the script (a translation's scripts).
		if len(args) > 3 && string(args[2]) != "0" {
			e.Key = args[3]
		}
	case len(args) > 1:
		e.Key = args[1]
	}
	return e
}

// rejectedCommands describes the commands of b at the indexes in errs.
func rejectedCommands(b *Batch, errs cmdErrs) []RejectedCommand {
	out := make([]RejectedCommand, 0, len(errs))
	db := b.StartDB
	for i := 0; i < b.Len(); i++ {
		msg, rejected := errs[i]
		if !rejected {
			if n, ok := selectedDB(b, i); ok {
				db = n
			}
			continue
		}
		args, off := b.Command(i)
		sub := 0
		for j := i - 1; j >= 0 && b.Offset(j) == off; j-- {
			sub++
		}
		out = append(out, RejectedCommand{Args: args, Offset: off, Sub: sub, DB: db, Sum: CommandSum(b.Raw(i)), Message: msg})
	}
	return out
}

// selectedDB reports the db command i of b selects, when it is a SELECT.
func selectedDB(b *Batch, i int) (int, bool) {
	raw := b.Raw(i)
	if len(raw) > 64 || !strings.Contains(strings.ToUpper(string(raw)), "SELECT") {
		return 0, false
	}
	args, _ := b.Command(i)
	if len(args) != 2 || !strings.EqualFold(string(args[0]), "SELECT") {
		return 0, false
	}
	n, err := strconv.Atoi(string(args[1]))
	return n, err == nil
}

// CommandSum is the CRC-32C of a command's exact RESP bytes, as in
// RejectedCommand.Sum.
func CommandSum(raw []byte) uint32 { return crc32.Checksum(raw, castagnoli) }
