// Package fsutil writes state files so that a crash leaves either the old or
// the new content, never a torn one.
package fsutil

import (
	"fmt"
	"os"
	"path/filepath"
)

// WriteAtomic writes dir/name through a temporary file in dir: write, fsync,
// rename, fsync dir. Errors wrap the operating system's (errors.Is works
// for syscall.ENOSPC and the like).
func WriteAtomic(dir, name string, data []byte) (err error) {
	tmp, err := os.CreateTemp(dir, name+".*.tmp")
	if err != nil {
		return fmt.Errorf("create a temp file in %s: %w", dir, err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", tmp.Name(), err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp.Name(), err)
	}
	final := filepath.Join(dir, name)
	if err = os.Rename(tmp.Name(), final); err != nil {
		return fmt.Errorf("rename to %s: %w", final, err)
	}
	return SyncDir(dir)
}

// SyncDir fsyncs a directory, making renames and removals in it durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync dir %s: %w", dir, err)
	}
	return nil
}
