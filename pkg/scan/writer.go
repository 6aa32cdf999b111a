package scan

import (
	"context"
	"strconv"
	"time"

	"github.com/redferry/redferry/pkg/server"
	"github.com/redferry/redferry/rdbparse"
	"github.com/redferry/redferry/sink"
	"github.com/redferry/redferry/transform"
)

// writer fills batches for the target and applies them with the current
// checkpoint. Keys copied from a DUMP go through a Restorer (RESTORE when
// the target reads the payload's version, else rebuilt by commands); keys
// read page by page go through a Rebuilder. Both replace what the target
// holds under the name.
type writer struct {
	st       target
	b        sink.Batch
	db       int               // the target db selected at the end of b
	filter   *transform.Filter // maps a source db to its target db (db-map)
	state    State
	restorer *transform.Restorer
	rebuild  *transform.Rebuilder
	version  int // the payload version the Restorer was last told about
	maxCmds  int
	maxBytes int
	seq      int64 // a number per key, as the batch offset in error reports
	applied  int64 // bytes of the batches applied so far

	// partial: a failed batch may be applied in part (a cluster target):
	// it is dropped, not sent again, and the pass goes back to the last
	// checkpoint applied (last), so that its keys are read and copied
	// again; rewound says the scanner must look at the state again.
	partial bool
	last    State
	rewound bool
}

func newWriter(st target, caps server.Info, opt *Options) *writer {
	ropt := transform.RebuildOptions{DeleteFirst: true}
	w := &writer{st: st, filter: opt.Filter, maxCmds: opt.BatchCommands, maxBytes: opt.BatchBytes,
		restorer: transform.NewRestorer(caps, ropt, transform.RestoreOptions{Mode: opt.ReplayMode, DeleteFirst: true,
			Unholdable: opt.Unholdable, Logger: opt.Logger}),
		rebuild: transform.NewRebuilder(caps, ropt)}
	return w
}

// targetDB is the target db of source db db (db-map). The writer's
// callers speak of source dbs; only the writer knows the target's.
func (w *writer) targetDB(db int) int {
	to, _ := w.filter.TargetDB(db)
	return to
}

// selectDB makes the next command run in target db db.
func (w *writer) selectDB(db int) {
	if db != w.db {
		w.b.AddStrings(w.seq, "SELECT", strconv.Itoa(db))
		w.db = db
	}
}

// del deletes key of source db db.
func (w *writer) del(db int, key []byte) {
	w.seq++
	w.selectDB(w.targetDB(db))
	w.b.Add(w.seq, []byte("DEL"), key)
}

// full reports whether the batch should be applied before the next key;
// mid-key, a big key applies at twice the size.
func (w *writer) full(midKey bool) bool {
	f := 1
	if midKey {
		f = 2
	}
	return w.b.Len() >= f*w.maxCmds || w.b.Size() >= f*w.maxBytes
}

// flush applies the batch with the checkpoint.
func (w *writer) flush(ctx context.Context) error {
	w.state.UpdatedMs = time.Now().UnixMilli()
	w.b.Checkpoint = w.state.marshal()
	if err := w.st.Apply(ctx, &w.b); err != nil {
		if w.partial {
			w.b.Reset()
			w.b.StartDB = w.db
			w.rewind()
		}
		return err
	}
	w.mark()
	w.applied += int64(w.b.Size())
	w.b.Reset()
	w.b.StartDB = w.db
	return nil
}

// written is the bytes of the commands written so far, applied or in the batch.
func (w *writer) written() int64 { return w.applied + int64(w.b.Size()) }

// flushIfFull applies the batch when it is full.
func (w *writer) flushIfFull(ctx context.Context, midKey bool) error {
	if w.full(midKey) {
		return w.flush(ctx)
	}
	return nil
}

// payload writes one key from its DUMP payload.
func (w *writer) payload(db int, key, payload []byte, expireAt int64) error {
	db = w.targetDB(db)
	w.seq++
	w.selectDB(db)
	w.restorer.SetDB(db)
	err := decodePayload(key, payload, expireAt, w.restorer.CaptureLimit(), func(e *rdbparse.Event) error {
		switch e.Kind {
		case rdbparse.KindHeader:
			if e.Version == w.version {
				return nil // said once: the Restorer logs each change
			}
			w.version = e.Version
		case rdbparse.KindEOF:
			return nil
		case rdbparse.KindKey:
			e.DB = db
		}
		e.Offset = w.seq
		return w.restorer.Handle(e, &w.b)
	})
	w.db = w.restorer.DB()
	return err
}

// beginKey starts a key read page by page: its events go to the
// Rebuilder through handle.
func (w *writer) beginKey(db int) {
	db = w.targetDB(db)
	w.seq++
	w.selectDB(db)
	w.rebuild.SetDB(db)
}

func (w *writer) handle(e *rdbparse.Event) error {
	e.DB = w.targetDB(e.DB)
	e.Offset = w.seq
	return w.rebuild.Handle(e, &w.b)
}

// rewind moves the pass back to the last checkpoint applied: the pages
// read since are read again (a SCAN cursor stays valid), the counts stay.
func (w *writer) rewind() {
	if w.last.Phase == "" {
		return
	}
	w.state.Phase, w.state.DB, w.state.Cursor, w.state.Node, w.state.TargetNode =
		w.last.Phase, w.last.DB, w.last.Cursor, w.last.Node, w.last.TargetNode
	w.state.Masters = append([]MasterState(nil), w.last.Masters...)
	w.rewound = true
}

// mark records the state as the one a rewind goes back to: the checkpoint
// applied, or the start of a pass.
func (w *writer) mark() {
	w.last = w.state
	w.last.Masters = append([]MasterState(nil), w.state.Masters...)
}
