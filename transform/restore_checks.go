package transform

import (
	"fmt"

	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/unholdable"
	"github.com/redferry/redferry/rdbparse"
	"github.com/redferry/redferry/sink"
)

// What Redis refuses or leaves out when it loads a snapshot, and the
// Restorer therefore refuses or leaves out too: empty keys, keys stored
// twice, module aux data.

// guardStub is the DUMP payload of an empty string (RDB 6, which every
// server reads): the RESTORE that guards a key (see guardDuplicate).
var guardStub = AppendDumpPayload(nil, []byte{0, 0}, 6)

// guardDuplicate makes the target refuse a key the snapshot already
// stored in this db, as Redis refuses such a file ("RDB has duplicated
// key"). A filter of the keys seen so far says "maybe seen" for every
// repeated key (and for a few others): such a key is preceded by a RESTORE
// of an empty string without REPLACE, which fails with BUSYKEY when the key
// exists (the target held none of the snapshot's keys), then a DEL of that
// placeholder. A false "maybe" costs the two commands, nothing else.
func (r *Restorer) guardDuplicate(e *rdbparse.Event, b *sink.Batch) {
	if !r.opt.RefuseDuplicates || r.opt.DeleteFirst {
		return
	}
	if r.seen == nil {
		r.seen = newKeyFilter()
	}
	if !r.seen.testAndAdd(e.DB, e.Key) {
		return
	}
	b.Add(e.Offset, []byte("RESTORE"), e.Key, []byte("0"), guardStub)
	b.Add(e.Offset, []byte("DEL"), e.Key)
	r.Stats.Guarded++
}

// skipEmpty leaves out a list, set, sorted set or hash with no element:
// Redis skips such a key when it loads the snapshot ("skipping empty key"),
// and its RESTORE refuses it.
func (r *Restorer) skipEmpty(e *rdbparse.Event) error {
	r.scratch.Reset()
	err := r.rb.Handle(e, &r.scratch) // closes the key; its commands are not needed
	r.scratch.Reset()
	r.inScratch, r.encoding = false, false
	r.Stats.SkippedEmpty++
	r.log.Warn("skipped an empty key, as Redis does when it loads the snapshot", zap.ByteString("key", e.Key),
		zap.Stringer("type", e.Type), zap.Int("db", e.DB), zap.Int64("offset", e.Offset))
	return err
}

// moduleAux: a module's aux data (its own state outside keys, e.g. index
// definitions) cannot be written to a target by any command, and Redis
// refuses a snapshot holding aux data of a module it lacks: a stop, or with
// on-unholdable-module = skip left out.
func (r *Restorer) moduleAux(e *rdbparse.Event) error {
	what := fmt.Sprintf("aux data of module %q (no command copies a module's state outside keys)", e.Name)
	if _, err := r.opt.Unholdable.decide(unholdable.Module, what, nil, e.Offset); err != nil {
		return err
	}
	r.Stats.SkippedModuleAux++
	return nil
}
