package sink

import (
	"errors"
	"fmt"
	"strings"
)

// ErrUnsupported is wrapped by errors about data or commands the target's
// version has no equivalent for (hash field TTLs on an old target, functions
// on 6.x, module values …).
var ErrUnsupported = errors.New("not supported by the target")

// ErrNeedsRestore is wrapped by errors about a value that commands cannot
// rebuild as stored (RESTORE of its serialized form copies it).
var ErrNeedsRestore = errors.New("commands cannot rebuild it as stored, only RESTORE copies it")

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
		sb.WriteString("; the rest of the batch was applied, so a restart goes on after this command: " +
			"check the key on the target (redferry verify)")
	} else {
		sb.WriteString("; nothing of the batch was applied: fix the target (its version, memory or ACL) and start " +
			"redferry again, it continues from this command, or set on-target-error = \"log\" to skip such commands " +
			"(their writes are lost)")
	}
	return sb.String()
}

func newTargetError(b *Batch, i int, msg string, applied bool) *TargetError {
	args, off := b.Command(i)
	e := &TargetError{Offset: off, Message: msg, Applied: applied}
	if len(args) > 0 {
		e.Command = strings.ToUpper(string(args[0]))
	}
	if len(args) > 1 {
		e.Key = args[1]
	}
	return e
}

func unsupported(feature string, key []byte, offset int64) error {
	if key == nil {
		return fmt.Errorf("%s at source offset %d: %w", feature, offset, ErrUnsupported)
	}
	return fmt.Errorf("%s (key %q, source offset %d): %w", feature, key, offset, ErrUnsupported)
}
