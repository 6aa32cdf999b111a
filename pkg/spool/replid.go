package spool

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// replIDFile holds the replication id of the spooled stream.
const replIDFile = "stream.replid"

// StreamReplID is the replication id of the spooled stream: the id to PSYNC
// with after a restart, which moves on with a failover of the source; ""
// when none was recorded.
func (s *Spool) StreamReplID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.replID
}

// SetStreamReplID records the replication id of the stream durably; ""
// forgets it (before a new full sync).
func (s *Spool) SetStreamReplID(id string) error {
	if strings.ContainsAny(id, " \r\n") {
		return fmt.Errorf("spool: bad replication id %q", id)
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if id == "" {
		if err := os.Remove(filepath.Join(s.dir, replIDFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return ioErr("remove", filepath.Join(s.dir, replIDFile), err)
		}
	} else if err := writeAtomic(s.dir, replIDFile, []byte(id+"\n")); err != nil {
		return err
	}
	s.mu.Lock()
	s.replID = id
	s.mu.Unlock()
	return nil
}

// recoverReplID reads the stream's replication id, if one was recorded.
func (s *Spool) recoverReplID() error {
	b, err := os.ReadFile(filepath.Join(s.dir, replIDFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("spool: read %s: %w", replIDFile, err)
	}
	s.replID = strings.TrimSpace(string(b))
	return nil
}
