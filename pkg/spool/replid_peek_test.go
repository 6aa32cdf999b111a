package spool

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestPeekStreamReplID: the replid a spool records is read without opening
// it, also while another holder has it open and locked, and without
// touching the directory; none recorded or no spool at all read as "".
func TestPeekStreamReplID(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir string) *Spool // the spool left open, or nil
		want  string
	}{
		{"no directory", func(t *testing.T, dir string) *Spool { return nil }, ""},
		{"spool without a replid", func(t *testing.T, dir string) *Spool { return open(t, dir, Options{}) }, ""},
		{"held open by its writer", func(t *testing.T, dir string) *Spool {
			s := open(t, dir, Options{})
			if err := s.SetStreamReplID(rid); err != nil {
				t.Fatal(err)
			}
			return s
		}, rid},
		{"closed", func(t *testing.T, dir string) *Spool {
			s := open(t, dir, Options{})
			if err := s.SetStreamReplID(rid); err != nil {
				t.Fatal(err)
			}
			s.Close()
			return nil
		}, rid},
		{"forgotten before a full sync", func(t *testing.T, dir string) *Spool {
			s := open(t, dir, Options{})
			if err := s.SetStreamReplID(rid); err != nil {
				t.Fatal(err)
			}
			if err := s.SetStreamReplID(""); err != nil {
				t.Fatal(err)
			}
			return s
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "shard")
			s := tc.setup(t, dir)
			before := dirEntries(t, dir)
			got, err := PeekStreamReplID(dir)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("PeekStreamReplID = %q, want %q", got, tc.want)
			}
			if after := dirEntries(t, dir); after != before {
				t.Errorf("the directory changed: %q, then %q", before, after)
			}
			if s != nil {
				if got := s.StreamReplID(); got != tc.want {
					t.Errorf("the open spool's StreamReplID = %q, want %q", got, tc.want)
				}
				// The holder's lock is still its own: a second Open fails.
				if _, err := Open(dir, Options{}); !errors.Is(err, ErrLocked) {
					t.Errorf("a second Open while the spool is held: %v, want ErrLocked", err)
				}
				s.Close()
			}
		})
	}
}

// dirEntries lists the names in dir ("" when it does not exist).
func dirEntries(t *testing.T, dir string) string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	out := ""
	for _, e := range ents {
		out += e.Name() + " "
	}
	return out
}
