package spool

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// PeekStreamReplID reads the replication id recorded in the spool in dir
// (StreamReplID) without opening the spool: no lock is taken, so it may be
// called while a running link holds the spool (the file is replaced
// atomically: a reader sees the old id or the new one), and nothing in dir
// is created, recovered or removed. "" with no error when dir holds no
// spool or the spool no replid.
func PeekStreamReplID(dir string) (string, error) {
	p := filepath.Join(dir, replIDFile)
	b, err := os.ReadFile(p)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("spool: read %s (check the state directory's permissions): %w", p, err)
	}
	return strings.TrimSpace(string(b)), nil
}
