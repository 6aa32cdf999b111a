// Package replay turns a snapshot into batches of commands for a sink: the
// decode → rebuild stage shared by `redferry sync` (from the spool) and
// `redferry restore` (from a file).
package replay

import (
	"context"
	"fmt"
	"io"
	"strconv"

	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/server"
	"github.com/redferry/redferry/rdbparse"
	"github.com/redferry/redferry/sink"
	"github.com/redferry/redferry/transform"
)

// SnapshotOptions tune Snapshot.
type SnapshotOptions struct {
	// From skips the keys stored before this byte offset (already applied).
	From int64
	// DeleteFirst deletes each key before rebuilding it: for a resumed
	// replay (the first key may be half applied) and for a merge.
	DeleteFirst bool
	// A batch is flushed once it holds this many commands or bytes (at a key
	// boundary; a big key flushes at twice that, mid-key).
	BatchCommands, BatchBytes int
	// Mode is transform.ModeAuto (default: RESTORE a key when the target reads
	// the snapshot's RDB version and the value is small enough),
	// transform.ModeCommands or transform.ModeRestore.
	Mode string
	// Unholdable: what to do with data the target cannot hold (functions,
	// hash field TTLs, module values it cannot load …); default: stop.
	Unholdable transform.Unholdable
	// ProbeRestore tells whether the target can load a module value's
	// payload (sink.Standalone.ProbeRestore); nil: it cannot.
	ProbeRestore func(ctx context.Context, payload []byte) (ok bool, reason string, err error)
	// RefuseDuplicates makes the target refuse a key the snapshot stores
	// twice in a db (sink.RestoreOptions.RefuseDuplicates): for a target
	// that held none of its keys.
	RefuseDuplicates bool
	// Stats, when set, receives how many keys went as RESTORE, by
	// commands, or were skipped.
	Stats  *transform.RestoreStats
	Logger *zap.Logger
	// Filter chooses the keys and maps their dbs (nil: every key, as is);
	// OnFiltered, when set, hears of each key it leaves out and why.
	Filter     *transform.Filter
	OnFiltered func(reason string)
}

// Flush applies b. resumeAt is the byte offset of the first key that the
// applied batches do not complete: a replay restarted with From = resumeAt
// loses nothing. db is the db selected after b, which the next batch starts in.
type Flush func(ctx context.Context, b *sink.Batch, resumeAt int64, db int) error

// Progress reports the keys rebuilt and the bytes of the snapshot read.
type Progress func(keys, pos int64)

// Result is what Snapshot read.
type Result struct {
	// DB is the db selected after the last batch.
	DB int
	// Keys is the number of keys rebuilt.
	Keys int64
	// StreamDB is the db the replication stream that follows the snapshot
	// starts in: its repl-stream-db AUX field (0 when absent). A master's
	// stream selects a db before its first write, but a replica's stream
	// (its master's, passed on) continues in the db its master had selected.
	StreamDB int
}

// Snapshot decodes the snapshot in r and rebuilds its keys into b, calling
// flush whenever b is full. It leaves the last, partly full batch in b for
// the caller to apply with its final checkpoint.
func Snapshot(ctx context.Context, r io.Reader, caps server.Info, opt SnapshotOptions, b *sink.Batch, flush Flush, progress Progress) (Result, error) {
	log := opt.Logger
	if log == nil {
		log = zap.NewNop()
	}
	ropt := transform.RestoreOptions{Mode: opt.Mode, DeleteFirst: opt.DeleteFirst, Unholdable: opt.Unholdable,
		RefuseDuplicates: opt.RefuseDuplicates, Logger: log}
	if opt.ProbeRestore != nil {
		ropt.ProbeRestore = func(p []byte) (bool, string, error) { return opt.ProbeRestore(ctx, p) }
	}
	rb := transform.NewRestorer(caps, transform.RebuildOptions{}, ropt)
	dec := rdbparse.NewDecoder(r, rdbparse.Options{Logger: log, CaptureRaw: rb.CaptureLimit()})
	rb.SetDB(b.StartDB)
	if opt.Stats != nil {
		defer func() { *opt.Stats = rb.Stats }()
	}
	var (
		skipping bool
		keyStart = opt.From
		keys     int64
		streamDB int
	)
	flushAt := func(resumeAt int64) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := flush(ctx, b, resumeAt, rb.DB()); err != nil {
			return err
		}
		b.StartDB = rb.DB()
		if progress != nil {
			progress(keys, dec.Offset())
		}
		return nil
	}
	err := dec.Decode(func(e *rdbparse.Event) error {
		switch e.Kind {
		case rdbparse.KindAux:
			if string(e.Name) != "repl-stream-db" {
				break
			}
			// As Redis reads it: -1 (older servers: no db selected yet)
			// or anything but a db number names none.
			if n, err := strconv.Atoi(string(e.Value)); err == nil && n >= 0 {
				streamDB = n
			}
		case rdbparse.KindKey:
			if e.Offset < opt.From {
				skipping = true
				return nil
			}
			if keep, reason := opt.Filter.Key(e.DB, e.Key, e.Type.String()); !keep {
				skipping = true // to its end, like an applied key
				if opt.OnFiltered != nil {
					opt.OnFiltered(reason)
				}
				return nil
			}
			skipping = false
			e.DB, _ = opt.Filter.TargetDB(e.DB)
			if b.Len() >= opt.BatchCommands || b.Size() >= opt.BatchBytes {
				if err := flushAt(e.Offset); err != nil {
					return err
				}
			}
			keyStart = e.Offset
		case rdbparse.KindKeyEnd:
			if skipping {
				skipping = false
				return nil
			}
			if !e.Empty { // an empty key is left out (Stats.SkippedEmpty)
				keys++
			}
		case rdbparse.KindFunction:
			if e.Offset < opt.From {
				return nil
			}
		}
		if skipping {
			return nil
		}
		if err := rb.Handle(e, b); err != nil {
			return fmt.Errorf("snapshot byte %d: %w", e.Offset, err)
		}
		// A big key fills batches by itself: flush them mid-key; a restart
		// redoes the key from its start.
		if e.Kind != rdbparse.KindKey && (b.Len() >= 2*opt.BatchCommands || b.Size() >= 2*opt.BatchBytes) {
			return flushAt(keyStart)
		}
		return nil
	})
	if progress != nil {
		progress(keys, dec.Offset())
	}
	return Result{DB: rb.DB(), Keys: keys, StreamDB: streamDB}, err
}
