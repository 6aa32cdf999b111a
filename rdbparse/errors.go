package rdbparse

import (
	"errors"
	"fmt"
	"io"
)

// Sentinel errors. Every error the decoder makes itself is an *Error that
// wraps one of them (test with errors.Is); errors returned by the handler are
// passed through untouched.
var (
	// ErrChecksum: the CRC64 trailer does not match the snapshot's bytes.
	ErrChecksum = errors.New("rdbparse: checksum mismatch")
	// ErrUnsupportedVersion: a magic/version pair this decoder does not know.
	ErrUnsupportedVersion = errors.New("rdbparse: unsupported RDB version")
	// ErrCorrupt: the bytes do not form a valid snapshot (bad length, unknown
	// type, inconsistent encoding, or input cut short, which also wraps
	// io.ErrUnexpectedEOF).
	ErrCorrupt = errors.New("rdbparse: corrupt RDB")
)

// Error is a decoding failure at a byte offset.
type Error struct {
	Offset int64  // byte offset in the snapshot where the problem was found
	Key    string // the key being decoded, if any
	Msg    string // what was expected / found
	errs   []error
}

func (e *Error) Error() string {
	s := fmt.Sprintf("rdbparse: at byte %d: %s", e.Offset, e.Msg)
	if e.Key != "" {
		s += fmt.Sprintf(" for key %q", e.Key)
	}
	for _, err := range e.errs {
		switch err {
		case ErrCorrupt, ErrChecksum, ErrUnsupportedVersion:
		default:
			s += ": " + err.Error()
		}
	}
	return s
}

// Unwrap returns the sentinel (and, for truncation, io.ErrUnexpectedEOF).
func (e *Error) Unwrap() []error { return e.errs }

// corrupt builds an ErrCorrupt error at off.
func (d *Decoder) corrupt(off int64, format string, args ...any) error {
	return d.errAt(off, ErrCorrupt, format, args...)
}

func (d *Decoder) errAt(off int64, sentinel error, format string, args ...any) error {
	e := &Error{Offset: off, Msg: fmt.Sprintf(format, args...), errs: []error{sentinel}}
	if d.inKey {
		e.Key = string(d.key)
	}
	return e
}

// readErr turns an error of the underlying reader into an *Error: a short
// read is corruption (truncation) and wraps io.ErrUnexpectedEOF.
func (d *Decoder) readErr(off int64, what string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		e := &Error{Offset: off, Msg: "truncated input while reading " + what, errs: []error{ErrCorrupt, io.ErrUnexpectedEOF}}
		if d.inKey {
			e.Key = string(d.key)
		}
		return e
	}
	e := &Error{Offset: off, Msg: "reading " + what, errs: []error{err}}
	if d.inKey {
		e.Key = string(d.key)
	}
	return e
}
