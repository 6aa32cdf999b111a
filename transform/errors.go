package transform

import (
	"errors"
	"fmt"
)

// ErrUnsupported is wrapped by errors about data or commands the target's
// version has no equivalent for (hash field TTLs on an old target, functions
// on 6.x, module values …).
var ErrUnsupported = errors.New("not supported by the target")

// ErrNeedsRestore is wrapped by errors about a value that commands cannot
// rebuild as stored (RESTORE of its serialized form copies it).
var ErrNeedsRestore = errors.New("commands cannot rebuild it as stored, only RESTORE copies it")

func unsupported(feature string, key []byte, offset int64) error {
	if key == nil {
		return fmt.Errorf("%s at source offset %d: %w", feature, offset, ErrUnsupported)
	}
	return fmt.Errorf("%s (key %q, source offset %d): %w", feature, key, offset, ErrUnsupported)
}
