package spool

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/redferry/redferry/pkg/fsutil"
)

// ioErr wraps a write-side error with the path and, for a full disk or an
// exhausted quota, ErrDiskFull.
func ioErr(op, path string, err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("%w writing %s: %w", ErrDiskFull, path, err)
	}
	return fmt.Errorf("spool: %s %s: %w", op, path, err)
}

func syncDir(dir string) error {
	if err := fsutil.SyncDir(dir); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}

// writeAtomic writes dir/name so that a crash leaves the old or the new
// content (fsutil.WriteAtomic); a full disk is ErrDiskFull.
func writeAtomic(dir, name string, data []byte) error {
	if err := fsutil.WriteAtomic(dir, name, data); err != nil {
		return ioErr("write", filepath.Join(dir, name), err)
	}
	return nil
}

// checkWritable creates dir and proves a file can be created, written and
// fsynced in it.
func checkWritable(dir string) error {
	hint := "check that the path is a directory the redferry user can write (owner, mode, read-only mount, free space) or choose another state directory"
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("%w: cannot create %s: %w; %s", ErrNotWritable, dir, err, hint)
	}
	probe := filepath.Join(dir, ".probe.tmp")
	f, err := os.OpenFile(probe, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("%w: cannot create a file in %s: %w; %s", ErrNotWritable, dir, err, hint)
	}
	_, werr := f.Write([]byte("redferry\n"))
	if werr == nil {
		werr = f.Sync()
	}
	cerr := f.Close()
	_ = os.Remove(probe)
	if err := errors.Join(werr, cerr); err != nil {
		return fmt.Errorf("%w: cannot write a file in %s: %w; %s", ErrNotWritable, dir, err, hint)
	}
	return nil
}
