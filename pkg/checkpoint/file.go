package checkpoint

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/redferry/redferry/pkg/fsutil"
)

// FileName is the checkpoint file inside a FileStore's directory.
const FileName = "checkpoint"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// FileStore keeps the state in <dir>/checkpoint as one line:
// "<crc32c of the JSON, 8 hex digits> <JSON>\n". Save writes a temporary file,
// fsyncs it, renames it over the old one and fsyncs the directory, so a crash
// leaves either the old or the new checkpoint; Load checks the CRC.
// It is safe for concurrent use.
type FileStore struct {
	dir string
	mu  sync.Mutex
}

// NewFileStore returns a store in dir; dir is created by the first Save.
func NewFileStore(dir string) *FileStore { return &FileStore{dir: dir} }

// Path is the checkpoint file's path.
func (f *FileStore) Path() string { return filepath.Join(f.dir, FileName) }

// Load returns the saved state; ok is false when none was ever saved. A
// damaged file is an error, never a zero State with ok false.
func (f *FileStore) Load(ctx context.Context) (State, bool, error) {
	if err := ctx.Err(); err != nil {
		return State{}, false, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	b, err := os.ReadFile(f.Path())
	if errors.Is(err, fs.ErrNotExist) {
		return State{}, false, nil
	}
	if err != nil {
		return State{}, false, fmt.Errorf("checkpoint: read %s: %w", f.Path(), err)
	}
	st, err := decodeFile(b)
	if err != nil {
		return State{}, false, fmt.Errorf("checkpoint: %s: %w (move the file away to start over with a full sync)", f.Path(), err)
	}
	return st, true, nil
}

func encodeFile(st State) []byte {
	js := st.Marshal()
	out := make([]byte, 0, len(js)+10)
	out = append(out, fmt.Sprintf("%08x ", crc32.Checksum(js, castagnoli))...)
	out = append(out, js...)
	return append(out, '\n')
}

func decodeFile(b []byte) (State, error) {
	if len(b) < 10 || b[8] != ' ' || b[len(b)-1] != '\n' {
		return State{}, fmt.Errorf("%w: truncated or malformed file (%d bytes)", ErrCorrupt, len(b))
	}
	want, err := strconv.ParseUint(string(b[:8]), 16, 32)
	if err != nil {
		return State{}, fmt.Errorf("%w: bad CRC field %q", ErrCorrupt, b[:8])
	}
	js := bytes.TrimSuffix(b[9:], []byte{'\n'})
	if got := crc32.Checksum(js, castagnoli); got != uint32(want) {
		return State{}, fmt.Errorf("%w: CRC mismatch (stored %08x, computed %08x)", ErrCorrupt, want, got)
	}
	return Unmarshal(js)
}

// Save replaces the state durably before returning. It rejects an invalid State.
func (f *FileStore) Save(ctx context.Context, st State) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := st.Validate(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := os.MkdirAll(f.dir, 0o755); err != nil {
		return fmt.Errorf("checkpoint: create dir: %w", err)
	}
	if err := fsutil.WriteAtomic(f.dir, FileName, encodeFile(st)); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}
