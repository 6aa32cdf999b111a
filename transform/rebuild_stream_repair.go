package transform

import (
	"bytes"
	"fmt"
	"strconv"

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

// scratchKey names a scratch key of the stream key, in key's cluster slot:
// with key's hash tag, or key itself as the tag when it has no brace, else
// a tag of the same slot (sameSlotScratch).
func scratchKey(key []byte, role string) []byte {
	prefix := "__redferry_stream_" + role + "__:"
	if open := bytes.IndexByte(key, '{'); open >= 0 {
		if end := bytes.IndexByte(key[open+1:], '}'); end > 0 {
			return append([]byte("{"+string(key[open+1:open+1+end])+"}"+prefix), key...)
		}
	} else if bytes.IndexByte(key, '}') < 0 {
		return append(append([]byte("{"), key...), "}"+prefix...)
	}
	return sameSlotScratch(key, prefix)
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
		n += st.scripted
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
