// Package checkpoint records how far redferry has applied the source's
// replication stream, so that a restart continues with
// PSYNC <replid> <offset+1> instead of a new full sync.
//
// State is encoded with Marshal/Unmarshal (versioned JSON); FileStore keeps it
// in a CRC-checked file replaced atomically. Other stores (for example one kept
// inside the target, next to the data) reuse Marshal/Unmarshal.
package checkpoint

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Phases of a migration.
const (
	// PhaseSnapshotReplay: the spooled snapshot is being applied; Offset is
	// the FULLRESYNC offset and SnapshotPos the first key not yet applied.
	PhaseSnapshotReplay = "snapshot-replay"
	// PhaseStreaming: the snapshot is applied; Offset is the replication
	// offset of the last stream byte applied.
	PhaseStreaming = "streaming"
)

// KeyPrefix starts every checkpoint key redferry writes into a target by
// default (redferry:checkpoint:<name>); verify ignores keys with it.
const KeyPrefix = "redferry:checkpoint:"

// Version is the encoding version written by Marshal for a State without
// rejected commands; VersionRejected for one with them. An older redferry
// reads Version only, so it refuses a checkpoint holding a rejection
// (ErrUnsupportedVersion) instead of silently continuing past it, and still
// reads every other checkpoint (a downgrade keeps working).
const (
	Version         = 1
	VersionRejected = 2
)

var (
	// ErrCorrupt: the stored checkpoint cannot be decoded or fails its checks.
	ErrCorrupt = errors.New("checkpoint: corrupt")
	// ErrUnsupportedVersion: the checkpoint was written by a newer redferry.
	ErrUnsupportedVersion = errors.New("checkpoint: unsupported version")
	// ErrInvalid: a State that must not be saved.
	ErrInvalid = errors.New("checkpoint: invalid state")
)

// State is the applied position.
type State struct {
	// ReplID is the source's replication ID (40 hex characters).
	ReplID string
	// Offset is the replication offset applied (streaming), or the snapshot's
	// FULLRESYNC offset during snapshot replay. Resume with PSYNC ReplID Offset+1.
	Offset int64
	// Phase is PhaseSnapshotReplay or PhaseStreaming.
	Phase string
	// SnapshotPos is, during snapshot replay, the byte offset in the spooled
	// snapshot of the first key not yet applied; 0 while streaming.
	SnapshotPos int64
	// Partial is set, during snapshot replay, while the snapshot was still
	// being downloaded: a restart cannot continue it (the spool holds no
	// complete snapshot) and starts the full sync again.
	Partial bool
	// DB is the database selected at Offset in the stream (the last SELECT
	// before it), so a restart mid-stream applies to the right database.
	DB int
	// UpdatedAt is when the state was recorded.
	UpdatedAt time.Time
	// Rejected lists the commands the target rejected at run time in the
	// batch that ended at Offset (see Rejection), at most MaxRejections;
	// RejectedOmitted counts the ones beyond. redferry does not continue
	// while either is set, until the operator retries or skips them.
	Rejected        []Rejection
	RejectedOmitted int
}

// HasRejected reports whether the state holds rejected commands.
func (s State) HasRejected() bool { return len(s.Rejected) > 0 || s.RejectedOmitted > 0 }

// MaxDB bounds State.DB (Redis's "databases" setting is far below it).
const MaxDB = 1 << 16

type wire struct {
	V           int       `json:"v"`
	ReplID      string    `json:"replid"`
	Offset      int64     `json:"offset"`
	Phase       string    `json:"phase"`
	SnapshotPos int64     `json:"snapshot_pos,omitempty"`
	Partial     bool      `json:"partial,omitempty"`
	DB          int       `json:"db,omitempty"`
	UpdatedAt   time.Time `json:"updated_at"`

	Rejected        []rejectionWire `json:"rejected,omitempty"`
	RejectedOmitted int             `json:"rejected_omitted,omitempty"`
}

// Validate reports what is wrong with s, wrapping ErrInvalid.
func (s State) Validate() error {
	var errs []error
	if !isReplID(s.ReplID) {
		errs = append(errs, fmt.Errorf("replid %q is not 40 hex characters", s.ReplID))
	}
	if s.DB < 0 || s.DB >= MaxDB {
		errs = append(errs, fmt.Errorf("db %d outside [0, %d)", s.DB, MaxDB))
	}
	if s.Offset < 0 {
		errs = append(errs, fmt.Errorf("offset %d is negative", s.Offset))
	}
	switch s.Phase {
	case PhaseSnapshotReplay:
		if s.SnapshotPos < 0 {
			errs = append(errs, fmt.Errorf("snapshot_pos %d is negative", s.SnapshotPos))
		}
	case PhaseStreaming:
		if s.Partial {
			errs = append(errs, fmt.Errorf("partial set in phase %q", s.Phase))
		}
		if s.SnapshotPos != 0 {
			errs = append(errs, fmt.Errorf("snapshot_pos %d set in phase %q", s.SnapshotPos, s.Phase))
		}
	default:
		errs = append(errs, fmt.Errorf("phase %q is not %q or %q", s.Phase, PhaseSnapshotReplay, PhaseStreaming))
	}
	if len(s.Rejected) > MaxRejections || s.RejectedOmitted < 0 {
		errs = append(errs, fmt.Errorf("%d rejected commands recorded (at most %d), %d omitted", len(s.Rejected), MaxRejections, s.RejectedOmitted))
	}
	for i, r := range s.Rejected {
		if err := r.validate(); err != nil {
			errs = append(errs, fmt.Errorf("rejected command %d: %w", i, err))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrInvalid, errors.Join(errs...))
}

func isReplID(id string) bool {
	if len(id) != 40 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// Marshal encodes s as compact versioned JSON. It does not validate; Save does.
func (s State) Marshal() []byte {
	w := wire{
		V: Version, ReplID: s.ReplID, Offset: s.Offset, Phase: s.Phase,
		SnapshotPos: s.SnapshotPos, Partial: s.Partial, DB: s.DB, UpdatedAt: s.UpdatedAt.UTC(),
		RejectedOmitted: s.RejectedOmitted,
	}
	for _, r := range s.Rejected {
		w.Rejected = append(w.Rejected, r.wire())
	}
	if s.HasRejected() {
		w.V = VersionRejected
	}
	b, err := json.Marshal(w)
	if err != nil { // only strings, ints, bools and times: cannot fail
		panic("checkpoint: marshal: " + err.Error())
	}
	return b
}

// Unmarshal decodes and validates what Marshal wrote. Bad input gives an error
// wrapping ErrCorrupt, ErrUnsupportedVersion or ErrInvalid, never a zero State.
func Unmarshal(b []byte) (State, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return State{}, fmt.Errorf("%w: empty input", ErrCorrupt)
	}
	var probe struct {
		V *int `json:"v"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return State{}, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	switch {
	case probe.V == nil:
		return State{}, fmt.Errorf("%w: no version field", ErrCorrupt)
	case *probe.V != Version && *probe.V != VersionRejected:
		return State{}, fmt.Errorf("%w: version %d, this build reads %d and %d", ErrUnsupportedVersion, *probe.V, Version, VersionRejected)
	}
	var w wire
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return State{}, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if dec.More() {
		return State{}, fmt.Errorf("%w: trailing data after the JSON object", ErrCorrupt)
	}
	st := State{ReplID: w.ReplID, Offset: w.Offset, Phase: w.Phase, SnapshotPos: w.SnapshotPos, Partial: w.Partial, DB: w.DB,
		UpdatedAt: w.UpdatedAt, RejectedOmitted: w.RejectedOmitted}
	for _, r := range w.Rejected {
		st.Rejected = append(st.Rejected, r.rejection())
	}
	if (w.V == VersionRejected) != st.HasRejected() {
		return State{}, fmt.Errorf("%w: version %d with %d rejected commands", ErrCorrupt, w.V, len(st.Rejected)+st.RejectedOmitted)
	}
	if err := st.Validate(); err != nil {
		return State{}, err
	}
	return st, nil
}
