package transform

import (
	"bytes"
	"fmt"
	"strconv"

	"github.com/redferry/redferry/rdbparse"
	"github.com/redferry/redferry/sink"
)

// repairChunk is the most entries (or pending entries, per group) one step
// of repairScript copies; repairBytes the most bytes of fields. A step then
// holds the target for a few milliseconds.
const (
	repairChunk = 500
	repairBytes = 1 << 20
)

// Roles of a stream's scratch keys (see rebuild_stream_scripts.go).
const (
	scratchGhosts = "ghosts"
	scratchCopy   = "copy"
	scratchDrain  = "drain"
)

// scratchKey names a scratch key of the stream key, in key's cluster slot
// (a cluster target runs the repair script only on keys of one slot): with
// key's own hash tag, or key as the tag when it has no brace, else a tag
// chosen to hash to key's slot.
func scratchKey(key []byte, role string) []byte {
	prefix := "__redferry_stream_" + role + "__:"
	if open := bytes.IndexByte(key, '{'); open >= 0 {
		if end := bytes.IndexByte(key[open+1:], '}'); end > 0 {
			return append([]byte("{"+string(key[open+1:open+1+end])+"}"+prefix), key...)
		}
	} else if bytes.IndexByte(key, '}') < 0 {
		return append(append([]byte("{"), key...), "}"+prefix...)
	}
	return append([]byte("{"+sink.TagForSlot(sink.KeySlot(key))+"}"+prefix), key...)
}

// noteClaim notes whether id is likely to have no message, so that the
// stream's copy is planned in bounded steps (repairStream). It only tunes
// the cost: the claims themselves find out exactly.
//
// Likely: id is outside the entries added (trimmed away, or deleted at
// the end), or not above the stream's max-deleted-entry-id (RDB 10+; an
// XDEL may have emptied a whole node). A stream saved before RDB 10 says
// nothing of its deletions: an id among its entries whose node was deleted
// is copied in one step.
func (s *streamState) noteClaim(id rdbparse.StreamID) {
	s.claimed++
	switch {
	case s.ghostLikely:
	case s.entries == 0 || cmpStreamID(id, s.firstAdded) < 0 || cmpStreamID(id, s.lastAdded) > 0:
		s.ghostLikely = true
	case s.meta.HasV2Fields && cmpStreamID(id, s.meta.MaxDeletedID) <= 0:
		s.ghostLikely = true
	}
}

// flushClaims sends the consumer's pending claims (claimScript). The first
// of a key clears the scratch keys an interrupted run may have left.
func (r *Rebuilder) flushClaims(b *sink.Batch) {
	st := &r.stream
	if len(st.claims) == 0 {
		return
	}
	ghosts := scratchKey(r.key, scratchGhosts)
	if !st.scratch {
		st.scratch = true
		b.Add(r.offset, []byte("DEL"), ghosts, scratchKey(r.key, scratchCopy), scratchKey(r.key, scratchDrain))
	}
	args := make([][]byte, 0, 7+len(st.claims))
	args = append(args, []byte("EVAL"), []byte(claimScript), []byte("2"), r.key, ghosts, st.group, st.consumer)
	args = append(args, st.claims...)
	b.Add(r.offset, args...)
	st.claims = st.claims[:0]
}

// repairStream copies the stream with its missing messages as ghosts, if
// a claim recorded one: in bounded steps when one is likely, then whatever
// is left in one go (a no-op when no claim recorded any).
func (r *Rebuilder) repairStream(b *sink.Batch) {
	st := &r.stream
	steps := 0
	if st.ghostLikely {
		// Stage 0, stage 1 (entries and ghost records, by count or bytes),
		// stage 2 (pending entries of each group), stage 3.
		steps = 2 + ceilDiv(st.entries+st.claimed, repairChunk) + int(ceilDiv64(st.bytes, repairBytes)) +
			ceilDiv(st.claimed, repairChunk)
	}
	cc, er := "0", "0"
	if r.caps.CreateConsumer() {
		cc = "1"
	}
	if r.caps.StreamV2() {
		er = "1"
	}
	call := func(mode string) {
		b.Add(r.offset, []byte("EVAL"), []byte(repairScript), []byte("4"), r.key, scratchKey(r.key, scratchGhosts),
			scratchKey(r.key, scratchCopy), scratchKey(r.key, scratchDrain), []byte(mode), itoa(repairChunk),
			itoa(repairBytes), []byte(cc), []byte(er), []byte(st.meta.LastID.String()))
	}
	for range steps {
		call("step")
	}
	call("finish")
}

// drainStream removes the deleted entries and the ghosts, lowest first,
// trimming those at the head (drainScript).
func (r *Rebuilder) drainStream(b *sink.Batch) {
	st := &r.stream
	drain := scratchKey(r.key, scratchDrain)
	if !st.scratch {
		b.Add(r.offset, []byte("DEL"), drain)
	}
	for ids := st.deleted; len(ids) > 0; {
		n := min(len(ids), max(r.opt.MaxArgs, 1))
		args := make([][]byte, 0, 2+2*n)
		args = append(args, []byte("ZADD"), drain)
		for _, id := range ids[:n] {
			args = append(args, []byte("0"), fmt.Appendf(nil, "%020d%020d", id.Ms, id.Seq))
		}
		b.Add(r.offset, args...)
		ids = ids[n:]
	}
	n := len(st.deleted)
	if st.ghostLikely {
		n += st.claimed
	}
	call := func(limit int) {
		b.Add(r.offset, []byte("EVAL"), []byte(drainScript), []byte("2"), r.key, drain, strconv.AppendInt(nil, int64(limit), 10))
	}
	for range ceilDiv(n, repairChunk) {
		call(repairChunk)
	}
	call(-1)
}

func ceilDiv(a, b int) int       { return (a + b - 1) / b }
func ceilDiv64(a, b int64) int64 { return (a + b - 1) / b }
