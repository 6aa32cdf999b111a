package spool

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
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
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("spool: open dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("spool: fsync dir %s: %w", dir, err)
	}
	return nil
}

// writeAtomic writes dir/name via name.tmp: write, fsync, rename, fsync dir.
func writeAtomic(dir, name string, data []byte) error {
	final := filepath.Join(dir, name)
	tmp := final + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return ioErr("create", tmp, err)
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		_ = os.Remove(tmp)
		return ioErr("write", tmp, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		_ = os.Remove(tmp)
		return ioErr("fsync", tmp, err)
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(tmp)
		return ioErr("close", tmp, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("spool: rename %s: %w", tmp, err)
	}
	return syncDir(dir)
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
