package checkpoint

import (
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// Rejection is a command the target rejected at run time, inside a batch's
// MULTI … EXEC whose other commands and checkpoint were applied (Redis does
// not roll a transaction back). While a State holds one, redferry does not
// continue past it until the operator retries or skips it.
//
// Key, Args and Answer are for people and bounded (MaxShown, MaxArgs,
// MaxAnswer); a retry reads the command's exact bytes from the spool and
// checks them against Sum.
type Rejection struct {
	// Offset is the source offset after the command (the stream), or the
	// key's position in the snapshot (Snapshot).
	Offset int64
	// Snapshot: the command rebuilt a key of the snapshot.
	Snapshot bool
	// From is a command boundary of the stream at or before the command
	// (where its batch began): a retry parses the spool from there.
	From int64
	// Sub: the source command at Offset was written to the target as one or
	// more commands (translations); this is the Sub-th of them, from 0.
	Sub int
	// DB is the database the command ran in.
	DB int
	// Command is its name, upper case.
	Command string
	// Key and Args (the arguments after the key) as shown to people:
	// truncated, and quoted when not printable UTF-8.
	Key  string
	Args []string
	// Truncated: Key or Args were cut.
	Truncated bool
	// Sum is the CRC-32C of the command's exact RESP bytes.
	Sum uint32
	// Answer is the target's error reply, truncated.
	Answer string
	// At is when the target rejected it.
	At time.Time
	// RetrySent: a retry of it was applied to the target but redferry
	// stopped before it recorded the outcome. Retrying again could apply
	// it twice, so only a skip (after checking the key) resolves it.
	RetrySent bool
}

// Bounds of a Rejection, so a checkpoint stays small whatever was rejected.
const (
	MaxRejections = 100 // per State; more are counted in RejectedOmitted
	MaxShown      = 128 // bytes of the key and of each argument
	MaxArgs       = 8   // arguments after the key
	MaxAnswer     = 512 // bytes of the target's answer
)

// NewRejection describes the command args (name first) for a Rejection,
// within the bounds above; the caller sets the positions, Sum and At.
func NewRejection(args [][]byte, answer string) Rejection {
	var r Rejection
	if len(args) > 0 {
		r.Command = upper(args[0])
	}
	key := 1
	switch r.Command {
	case "EVAL", "EVALSHA", "FCALL", "FCALL_RO":
		// The script (or function) is not the key: its first key is, if it
		// has one (redferry's translations are scripts).
		key = 3
		if len(args) > 2 && string(args[2]) == "0" {
			key = len(args)
		}
	}
	if len(args) > key {
		var cut bool
		r.Key, cut = Show(args[key], MaxShown)
		r.Truncated = r.Truncated || cut
	}
	rest := args[min(2, len(args)):]
	if len(rest) > MaxArgs {
		rest, r.Truncated = rest[:MaxArgs], true
	}
	for _, a := range rest {
		s, cut := Show(a, MaxShown)
		r.Args = append(r.Args, s)
		r.Truncated = r.Truncated || cut
	}
	r.Answer, _ = Show([]byte(answer), MaxAnswer)
	return r
}

func upper(b []byte) string {
	if len(b) > MaxShown {
		b = b[:MaxShown]
	}
	out := make([]byte, len(b))
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		out[i] = c
	}
	s, _ := Show(out, MaxShown)
	return s
}

// Show returns b for people: as is when it is printable UTF-8, else Go-quoted;
// cut to at most max bytes of b first (cut reports it).
func Show(b []byte, max int) (s string, cut bool) {
	if len(b) > max {
		b, cut = b[:max], true
		for len(b) > 0 && !utf8.Valid(b) && len(b) > max-utf8.UTFMax {
			b = b[:len(b)-1] // do not split a character
		}
	}
	if utf8.Valid(b) && printable(b) {
		return string(b), cut
	}
	return strconv.Quote(string(b)), cut
}

func printable(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

// String names the command for messages: `INCR key "k" at source offset N in db D`.
func (r Rejection) String() string {
	s := r.Command
	if r.Key != "" {
		s += fmt.Sprintf(" key %q", r.Key)
	}
	if r.Snapshot {
		return s + fmt.Sprintf(" (a key of the snapshot, at byte %d of it) in db %d", r.Offset, r.DB)
	}
	return s + fmt.Sprintf(" at source offset %d in db %d", r.Offset, r.DB)
}

func (r Rejection) validate() error {
	var errs []error
	if r.Offset < 0 || r.From < 0 || r.From > r.Offset {
		errs = append(errs, fmt.Errorf("offset %d, from %d: want 0 <= from <= offset", r.Offset, r.From))
	}
	if r.Sub < 0 {
		errs = append(errs, fmt.Errorf("sub %d is negative", r.Sub))
	}
	if r.DB < 0 || r.DB >= MaxDB {
		errs = append(errs, fmt.Errorf("db %d outside [0, %d)", r.DB, MaxDB))
	}
	if r.Command == "" {
		errs = append(errs, errors.New("no command name"))
	}
	if len(r.Args) > MaxArgs || len(r.Answer) > 2*MaxAnswer+2 {
		errs = append(errs, errors.New("over the size bounds"))
	}
	return errors.Join(errs...)
}

type rejectionWire struct {
	Offset    int64     `json:"offset"`
	Snapshot  bool      `json:"snapshot,omitempty"`
	From      int64     `json:"from"`
	Sub       int       `json:"sub,omitempty"`
	DB        int       `json:"db,omitempty"`
	Command   string    `json:"command"`
	Key       string    `json:"key,omitempty"`
	Args      []string  `json:"args,omitempty"`
	Truncated bool      `json:"truncated,omitempty"`
	Sum       uint32    `json:"crc32c"`
	Answer    string    `json:"answer"`
	At        time.Time `json:"at"`
	RetrySent bool      `json:"retry_sent,omitempty"`
}

func (r Rejection) wire() rejectionWire {
	return rejectionWire{Offset: r.Offset, Snapshot: r.Snapshot, From: r.From, Sub: r.Sub, DB: r.DB, Command: r.Command,
		Key: r.Key, Args: r.Args, Truncated: r.Truncated, Sum: r.Sum, Answer: r.Answer, At: r.At.UTC(), RetrySent: r.RetrySent}
}

func (w rejectionWire) rejection() Rejection {
	return Rejection{Offset: w.Offset, Snapshot: w.Snapshot, From: w.From, Sub: w.Sub, DB: w.DB, Command: w.Command,
		Key: w.Key, Args: w.Args, Truncated: w.Truncated, Sum: w.Sum, Answer: w.Answer, At: w.At, RetrySent: w.RetrySent}
}
