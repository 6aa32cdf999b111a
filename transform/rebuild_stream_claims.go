package transform

import (
	"slices"
	"strconv"

	"github.com/redferry/redferry/rdbparse"
	"github.com/redferry/redferry/sink"
)

// maxKnownIDs is how many of a stream's entry ids the Rebuilder keeps to
// tell that a claim will find its message (16 bytes each: 1 MiB). Claims of
// ids past them go through claimScript, which finds out on the target.
const maxKnownIDs = 1 << 16

// pendingClaim is a pending entry to give to the current consumer.
type pendingClaim struct {
	id    rdbparse.StreamID
	time  int64
	count uint64
}

// streamConsumerPending gives the entry to the consumer with the group PEL's
// delivery time and count.
//
// A claim of an entry this rebuild added (live, or deleted and added until
// streamEnd) finds its message: a plain XCLAIM … FORCE. Any other may find
// none (the entry was deleted or trimmed with its whole node) and goes
// through claimScript, which records such a claim on the target, and
// streamEnd has the stream copied with it (repairScript).
//
// One XCLAIM takes many ids, all given the same TIME and RETRYCOUNT, and a
// consumer's entries mostly share them (those of one XREADGROUP do): the
// claims go as runs of equal time and count, one XCLAIM per run. An XCLAIM
// per entry made the target spend more on a stream's PEL than on its
// entries, and a script per consumer more again.
func (r *Rebuilder) streamConsumerPending(e *rdbparse.Event, b *sink.Batch) {
	p, ok := r.stream.pel[e.ID]
	if !ok {
		p = pelInfo{time: 0, count: 1}
	}
	delete(r.stream.pel, e.ID)
	st := &r.stream
	if len(st.claims) >= r.opt.MaxArgs {
		r.flushClaims(b)
	}
	st.claimed++
	st.claims = append(st.claims, pendingClaim{id: e.ID, time: p.time, count: p.count})
}

// findsMessage: the entry id was added by this rebuild and is still there
// when the claims go (the deleted ones go at streamEnd, after them).
func (s *streamState) findsMessage(id rdbparse.StreamID) bool {
	if s.idmpDeleted {
		return false
	}
	_, found := slices.BinarySearchFunc(s.added, id, cmpStreamID)
	return found
}

// flushClaims sends the consumer's claims: those that find their message
// as XCLAIM runs, the others through claimScript. The first of a key clears
// the scratch keys an interrupted run may have left.
func (r *Rebuilder) flushClaims(b *sink.Batch) {
	st := &r.stream
	if len(st.claims) == 0 {
		return
	}
	if !st.scratch {
		st.scratch = true
		b.Add(r.offset, []byte("DEL"), scratchKey(r.key, scratchGhosts), scratchKey(r.key, scratchCopy), scratchKey(r.key, scratchDrain))
	}
	var plain, scripted []pendingClaim
	for _, c := range st.claims {
		if st.findsMessage(c.id) {
			plain = append(plain, c)
		} else {
			scripted = append(scripted, c)
		}
	}
	for len(plain) > 0 {
		n := runLen(plain)
		r.xclaimRun(b, plain[:n])
		plain = plain[n:]
	}
	if len(scripted) > 0 {
		r.claimScripted(b, scripted)
	}
	st.claims = st.claims[:0]
}

// runLen is the length of the run of equal delivery time and count that
// starts cs.
func runLen(cs []pendingClaim) int {
	n := 1
	for n < len(cs) && cs[n].time == cs[0].time && cs[n].count == cs[0].count {
		n++
	}
	return n
}

// xclaimRun claims a run of entries whose messages are there.
func (r *Rebuilder) xclaimRun(b *sink.Batch, run []pendingClaim) {
	st := &r.stream
	var num [42]byte
	b.BeginCommand(11 + len(run))
	b.Arg([]byte("XCLAIM"))
	b.Arg(r.key)
	b.Arg(st.group)
	b.Arg(st.consumer)
	b.Arg([]byte("0"))
	for _, c := range run {
		b.Arg(appendStreamID(num[:0], c.id))
	}
	b.Arg([]byte("TIME"))
	b.Arg(strconv.AppendInt(num[:0], run[0].time, 10))
	b.Arg([]byte("RETRYCOUNT"))
	b.Arg(strconv.AppendUint(num[:0], run[0].count, 10))
	b.Arg([]byte("FORCE"))
	b.Arg([]byte("JUSTID"))
	b.EndCommand(r.offset)
}

// claimScripted sends claims that may find no message through claimScript,
// in runs of equal time and count (its arguments: time, count, how many,
// their ids, …).
func (r *Rebuilder) claimScripted(b *sink.Batch, cs []pendingClaim) {
	st := &r.stream
	args := make([][]byte, 0, 7+4*len(cs))
	args = append(args, []byte("EVAL"), []byte(claimScript), []byte("2"), r.key, scratchKey(r.key, scratchGhosts), st.group, st.consumer)
	for len(cs) > 0 {
		n := runLen(cs)
		args = append(args, strconv.AppendInt(nil, cs[0].time, 10), strconv.AppendUint(nil, cs[0].count, 10), strconv.AppendInt(nil, int64(n), 10))
		for _, c := range cs[:n] {
			st.noteScripted(c.id)
			args = append(args, appendStreamID(nil, c.id))
		}
		cs = cs[n:]
	}
	b.Add(r.offset, args...)
}

// noteScripted counts a scripted claim and notes whether id is likely to
// have no message, so that the stream's copy is planned in bounded steps
// (repairStream). It only tunes the cost: the claims themselves find out
// exactly.
//
// Likely: id is outside the entries added (trimmed away, or deleted at
// the end), or not above the stream's max-deleted-entry-id (RDB 10+; an
// XDEL may have emptied a whole node). A stream saved before RDB 10 says
// nothing of its deletions: an id among its entries whose node was deleted
// is copied in one step.
func (s *streamState) noteScripted(id rdbparse.StreamID) {
	s.scripted++
	switch {
	case s.ghostLikely:
	case s.entries == 0 || cmpStreamID(id, s.firstAdded) < 0 || cmpStreamID(id, s.lastAdded) > 0:
		s.ghostLikely = true
	case s.meta.HasV2Fields && cmpStreamID(id, s.meta.MaxDeletedID) <= 0:
		s.ghostLikely = true
	}
}

// appendStreamID appends id as ms-seq, as the server writes it (claimScript
// compares the ids it sent with those XCLAIM returns), without fmt: a
// stream rebuilds an id per entry.
func appendStreamID(dst []byte, id rdbparse.StreamID) []byte {
	dst = strconv.AppendUint(dst, id.Ms, 10)
	dst = append(dst, '-')
	return strconv.AppendUint(dst, id.Seq, 10)
}
