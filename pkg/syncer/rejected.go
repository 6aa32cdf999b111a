package syncer

// A command the target rejects at run time inside a batch's MULTI … EXEC
// (WRONGTYPE, "Invalid stream ID", BUSYKEY …) does not undo the rest of the
// batch: Redis applies the other commands and the batch's checkpoint, which
// was attached before EXEC. Without more, a restart would read that
// checkpoint and go on after the rejected command, silently — and systemd
// restarts within seconds. So:
//
//  1. Record. The rejection is known only from EXEC's reply, after the batch
//     and its checkpoint are applied. The applier then writes a follow-up
//     checkpoint — the same state plus checkpoint.State.Rejected — in its
//     own MULTI/EXEC (or file), before anything else is sent (the pipeline
//     sends nothing after a failed batch), and exits with
//     ErrStoppedOnRejection (exit status 3, which the systemd unit does not
//     restart on).
//  2. Refuse. A start that finds Rejected in the checkpoint writes nothing
//     and stops with the same status, naming the command, key, offset and
//     the target's answer, until the operator chooses: --skip-rejected
//     OFFSET (checked against the record) or --retry-rejected (the
//     command's exact bytes, read again from the spool, checked against the
//     recorded CRC, applied once in a transaction whose checkpoint marks the
//     retry as sent; then the record is cleared). A retry whose outcome was
//     lost stays marked "retry sent" and can then only be skipped (after
//     checking the key): retrying it could apply it twice.
//
// A stop between reading EXEC's reply and writing the record (a kill, a
// crash, the link to the target broken) does not lose it: the record goes
// to the state dir first, and the next start writes it to the checkpoint
// (rejected_pending.go).
//
// What this cannot see: the answer exists only in EXEC's reply. If the reply
// is lost — the process killed while a batch is in flight, before the reply
// is read — no later process can learn whether a command was rejected: the batch's
// checkpoint is in place and looks like any other, and re-running the batch
// to find out would apply its commands twice. Marking every batch "pending"
// and confirming it with one more write would not help: a restart that finds
// a batch unconfirmed still cannot tell a clean batch from one with a
// rejection, only refuse after every kill (breaking unattended restarts) or
// warn after every kill (noise). A reply lost to a broken connection while
// the process lives is logged as a warning with the batch's offsets and
// counted (sink.Stats.Unknown), so `redferry verify` can check those keys.

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redferry/redferry/pkg/checkpoint"
	"github.com/redferry/redferry/sink"
)

// ErrStoppedOnRejection: the sync stopped at a command the target rejected
// and waits for the operator's --retry-rejected or --skip-rejected.
var ErrStoppedOnRejection = errors.New("stopped at a command the target rejected")

// RejectedError says which commands the target rejected and what the
// operator can do. It wraps ErrStoppedOnRejection.
type RejectedError struct {
	State checkpoint.State // holding the rejections
	// AtStart: found in the checkpoint at start, not rejected just now.
	AtStart bool
	// Why, when set, says why the operator's choice was refused or what
	// happened to it (a retry rejected again).
	Why string
	// NotRetryable, when set, says why --retry-rejected cannot be offered.
	NotRetryable string
	// RecordErr: the rejection could not be written to the checkpoint.
	RecordErr error
	// Pending, with RecordErr: the state dir file holding the record, which
	// the next start writes to the checkpoint (rejected_pending.go).
	Pending string
}

func (e *RejectedError) Unwrap() []error {
	if e.RecordErr != nil {
		return []error{ErrStoppedOnRejection, e.RecordErr}
	}
	return []error{ErrStoppedOnRejection}
}

// maxListed bounds the rejected commands an error message lists.
const maxListed = 5

func (e *RejectedError) Error() string {
	var sb strings.Builder
	st := e.State
	n := len(st.Rejected) + st.RejectedOmitted
	if e.Why != "" {
		sb.WriteString(e.Why + ". ")
	}
	if e.AtStart {
		fmt.Fprintf(&sb, "%s (recorded with the checkpoint at offset %d): ", ErrStoppedOnRejection, st.Offset)
	} else {
		sb.WriteString("the target rejected ")
	}
	for i, r := range st.Rejected[:min(len(st.Rejected), maxListed)] {
		if i > 0 {
			sb.WriteString("; ")
		}
		fmt.Fprintf(&sb, "%s: %s", r, r.Answer)
		if e.AtStart && !r.At.IsZero() {
			fmt.Fprintf(&sb, " (at %s)", r.At.UTC().Format(time.RFC3339))
		}
		if r.RetrySent {
			sb.WriteString(" (a retry of it was sent, but redferry stopped before it saw the outcome)")
		}
	}
	if more := n - min(len(st.Rejected), maxListed); more > 0 {
		fmt.Fprintf(&sb, "; and %d more", more)
	}
	if cutShort(st) {
		sb.WriteString(". The rest of its batch is applied when redferry goes on")
	} else {
		sb.WriteString(". The rest of the batch was applied")
	}
	switch {
	case e.RecordErr != nil && e.Pending != "":
		fmt.Fprintf(&sb, ". redferry stopped, but could not record this with the checkpoint in the target (%v); the record is "+
			"kept in %s, and the next start writes it to the checkpoint and stops there", e.RecordErr, e.Pending)
		return sb.String()
	case e.RecordErr != nil:
		fmt.Fprintf(&sb, ". redferry stopped, but could not record this with the checkpoint (%v): a restart would go on "+
			"past it without a word, so check the keys above on the target before you start it again", e.RecordErr)
		return sb.String()
	case e.AtStart:
		sb.WriteString("; redferry does not go on past it until you choose")
	default:
		sb.WriteString("; redferry stopped and recorded it with the checkpoint: it will not go on past it until you choose")
	}
	skip := "--skip-rejected " + offsetList(st.Rejected)
	if e.NotRetryable != "" {
		fmt.Fprintf(&sb, ". It cannot be retried (%s): start redferry sync with `%s` added to go on without it "+
			"(its write is lost; fix the key by hand)", e.NotRetryable, skip)
	} else {
		fmt.Fprintf(&sb, ". Fix the target (the key, its type, memory, ACL), then start redferry sync with `--retry-rejected` "+
			"added: it applies the command once and continues; or with `%s` added: it goes on without it (its write is lost)", skip)
	}
	return sb.String()
}

// cutShort reports whether a rejected command of st lies past st's offset:
// recorded at start from the state dir, its batch not wholly applied
// (rejected_pending.go).
func cutShort(st checkpoint.State) bool {
	return slices.ContainsFunc(st.Rejected, func(r checkpoint.Rejection) bool { return pastCheckpoint(st, r) })
}

// pastCheckpoint reports whether the rejected stream command r lies past
// st's offset (see cutShort).
func pastCheckpoint(st checkpoint.State, r checkpoint.Rejection) bool {
	return !r.Snapshot && r.Offset > st.Offset
}

// offsetList is the distinct offsets of rs, comma-separated, as
// --skip-rejected takes them.
func offsetList(rs []checkpoint.Rejection) string {
	var out []string
	seen := map[int64]bool{}
	for _, r := range rs {
		if !seen[r.Offset] {
			seen[r.Offset] = true
			out = append(out, strconv.FormatInt(r.Offset, 10))
		}
	}
	return strings.Join(out, ",")
}

// batchSpan is what the applier knows of a batch beyond its commands.
type batchSpan struct {
	snapshot bool  // the batch rebuilds keys of the snapshot
	from     int64 // stream: the offset the batch starts at (a command boundary)
}

// rejections turns the commands the target rejected into checkpoint
// records, at most checkpoint.MaxRejections of them.
func rejections(rc []sink.RejectedCommand, span batchSpan, at time.Time) (recs []checkpoint.Rejection, omitted int) {
	for i, c := range rc {
		if i == checkpoint.MaxRejections {
			return recs, len(rc) - i
		}
		r := checkpoint.NewRejection(c.Args, c.Message)
		r.Offset, r.Snapshot, r.Sub, r.DB, r.Sum, r.At = c.Offset, span.snapshot, c.Sub, c.DB, c.Sum, at
		if !span.snapshot {
			r.From = min(span.from, c.Offset)
		}
		recs = append(recs, r)
	}
	return recs, 0
}
