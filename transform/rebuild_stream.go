package transform

import (
	"cmp"
	"fmt"
	"math"
	"strconv"

	"github.com/redferry/redferry/pkg/server"
	"github.com/redferry/redferry/pkg/unholdable"
	"github.com/redferry/redferry/rdbparse"
	"github.com/redferry/redferry/sink"
)

// tmpGroup is the group created and destroyed to make an empty stream.
const tmpGroup = "__redferry_tmp__"

// farStreamID is past every real id: XREADGROUP … STREAMS key <farStreamID>
// reads nothing from the consumer's own history, so it creates the consumer
// and changes nothing else (checked on Redis 6.0: the PEL keeps its times and
// counts). XREADGROUP with id 0 would re-deliver the PEL, bumping counts; and
// on 6.0 the very last id, 18446744073709551615-18446744073709551615, returns
// before creating the consumer.
const farStreamID = "18446744073709551615-0"

type pelInfo struct {
	time  int64
	count uint64
}

// streamState is the stream being rebuilt: its groups' PELs are held until
// their consumers have claimed them.
type streamState struct {
	entries    int               // entries added (live and deleted)
	live       int               // entries not deleted
	first      rdbparse.StreamID // the first entry not deleted (live > 0)
	firstAdded rdbparse.StreamID // the first entry added, deleted or not (entries > 0)
	lastAdded  rdbparse.StreamID // the last entry added (entries > 0)
	bytes      int64             // bytes of the entries' fields
	meta       rdbparse.StreamMeta
	deleted    []rdbparse.StreamID // entries added only so their PEL entries can be claimed
	group      []byte
	pel        map[rdbparse.StreamID]pelInfo
	consumer   []byte
	inConsumer bool
	// idmpAction is what the stream's idempotent ids get on a target
	// that cannot record them, decided (and counted) at the first; ""
	// until then.
	idmpAction unholdable.Action

	// added: the ids of the entries added, in order, the first
	// maxKnownIDs of them: a claim of one of those finds its message
	// (rebuild_stream_claims.go). idmpDeleted: an entry was deleted before
	// the claims (on-unholdable-idmp skip), so added no longer says that.
	added       []rdbparse.StreamID
	idmpDeleted bool
	claims      []pendingClaim // the consumer's claims not sent yet
	claimed     int            // pending entries claimed
	scripted    int            // of them through claimScript (their message may be gone)
	ghostLikely bool           // a scripted id is likely to have no message (see noteScripted)
	scratch     bool           // the scratch keys were cleared
}

func (s *streamState) reset() {
	s.entries, s.live, s.bytes, s.meta = 0, 0, 0, rdbparse.StreamMeta{}
	s.deleted = s.deleted[:0]
	s.group = s.group[:0]
	clear(s.pel)
	s.inConsumer = false
	s.idmpAction = ""
	s.added, s.idmpDeleted = s.added[:0], false
	s.claims = s.claims[:0]
	s.claimed, s.scripted, s.ghostLikely, s.scratch = 0, 0, false, false
}

func (r *Rebuilder) streamEntry(e *rdbparse.Event, b *sink.Batch) {
	// Written straight into the batch, the id without fmt: a stream
	// rebuilds a command per entry.
	var num [42]byte
	b.BeginCommand(3 + len(e.Fields))
	b.Arg([]byte("XADD"))
	b.Arg(r.key)
	b.Arg(appendStreamID(num[:0], e.ID))
	for _, f := range e.Fields {
		b.Arg(f)
	}
	b.EndCommand(r.offset)
	st := &r.stream
	if st.entries == 0 {
		st.firstAdded = e.ID
	}
	st.lastAdded = e.ID
	st.entries++
	if len(st.added) < maxKnownIDs {
		st.added = append(st.added, e.ID)
	}
	for _, f := range e.Fields {
		st.bytes += int64(len(f))
	}
}

// streamDeletedEntry adds an entry that was deleted but is still stored:
// a pending entry can only be claimed (XCLAIM) while its entry exists, so it
// is added now and deleted again once the groups are rebuilt (XDEL leaves the
// PELs alone). XSETID on 7.0+ restores entries-added and max-deleted-id.
func (r *Rebuilder) streamDeletedEntry(e *rdbparse.Event, b *sink.Batch) {
	r.streamEntry(e, b)
	r.stream.deleted = append(r.stream.deleted, e.ID)
}

func (s *streamState) noteLive(id rdbparse.StreamID) {
	if s.live == 0 {
		s.first = id
	}
	s.live++
}

// streamMeta creates the stream if it has no entries and sets its last id
// (and, on 7.0+, entries-added and max-deleted-id).
//
// An empty stream: XGROUP CREATE key tmp 0 MKSTREAM + XGROUP DESTROY works on
// 6.0 through 8.x and Valkey, also for last id 0-0 (XADD … MAXLEN 0 cannot
// use id 0-0).
//
// A stored length that is not the number of entries (written by old Redis
// bugs; Redis loads it as stored, Valkey refuses it) has no command form:
// an error naming the key.
func (r *Rebuilder) streamMeta(e *rdbparse.Event, b *sink.Batch) error {
	if e.Stream.Length != uint64(r.stream.live) {
		return fmt.Errorf("transform: stream key %q (source offset %d) stores length %d but holds %d entries: %w (replay-mode "+
			"auto or restore, into a target that reads the snapshot's RDB version)", r.key, r.offset, e.Stream.Length,
			r.stream.live, ErrNeedsRestore)
	}
	r.stream.meta = e.Stream
	if r.stream.entries == 0 {
		b.AddStrings(r.offset, "XGROUP", "CREATE", string(r.key), tmpGroup, "0", "MKSTREAM")
		b.AddStrings(r.offset, "XGROUP", "DESTROY", string(r.key), tmpGroup)
	}
	m := e.Stream
	args := [][]byte{[]byte("XSETID"), r.key, []byte(m.LastID.String())}
	if r.caps.StreamV2() && m.HasV2Fields {
		// Not below the entries added so far (deleted ones included), which
		// XSETID refuses; streamEnd sets the stored value once they are gone.
		added := max(m.EntriesAdded, uint64(r.stream.entries))
		args = append(args, []byte("ENTRIESADDED"), strconv.AppendUint(nil, added, 10),
			[]byte("MAXDELETEDID"), []byte(m.MaxDeletedID.String()))
	}
	b.Add(r.offset, args...)
	return nil
}

func (r *Rebuilder) streamGroup(e *rdbparse.Event, b *sink.Batch) {
	r.finishConsumer(b)
	g := e.Group
	r.stream.group = append(r.stream.group[:0], g.Name...)
	clear(r.stream.pel)
	args := [][]byte{[]byte("XGROUP"), []byte("CREATE"), r.key, r.stream.group, []byte(g.LastID.String())}
	read := g.EntriesRead
	if !g.HasEntriesRead {
		// Not stored before RDB 10: Redis 7.0+ estimates it on load.
		read = r.stream.estimateEntriesRead(g.LastID)
	}
	if r.caps.StreamV2() && read >= 0 {
		args = append(args, []byte("ENTRIESREAD"), strconv.AppendInt(nil, read, 10))
	}
	b.Add(r.offset, args...)
}

// estimateEntriesRead is Redis' streamEstimateDistanceFromFirstEverEntry:
// the entries-read counter a group at id has, or -1 when unknown. Redis
// 7.0+ sets it so for the groups of a stream saved before RDB 10.
func (s *streamState) estimateEntriesRead(id rdbparse.StreamID) int64 {
	m := s.meta
	added, length := int64(m.EntriesAdded), int64(m.Length)
	switch {
	case added == 0:
		return 0
	case length == 0 && cmpStreamID(id, m.LastID) <= 0:
		return added
	case !id.IsZero() && cmpStreamID(id, m.MaxDeletedID) < 0:
		return -1
	}
	switch c := cmpStreamID(id, m.LastID); {
	case c == 0:
		return added
	case c > 0:
		return -1
	}
	first := s.first
	if s.live == 0 {
		first = rdbparse.StreamID{Ms: math.MaxUint64, Seq: math.MaxUint64}
	}
	if m.MaxDeletedID.IsZero() || cmpStreamID(m.MaxDeletedID, first) < 0 {
		switch c := cmpStreamID(id, first); {
		case c < 0:
			return added - length
		case c == 0:
			return added - length + 1
		}
	}
	return -1
}

func cmpStreamID(a, b rdbparse.StreamID) int {
	switch {
	case a.Ms != b.Ms:
		return cmp.Compare(a.Ms, b.Ms)
	default:
		return cmp.Compare(a.Seq, b.Seq)
	}
}

func (r *Rebuilder) streamPending(e *rdbparse.Event) {
	if r.stream.pel == nil {
		r.stream.pel = make(map[rdbparse.StreamID]pelInfo)
	}
	r.stream.pel[e.ID] = pelInfo{time: e.DeliveryTime, count: e.DeliveryCount}
}

func (r *Rebuilder) streamConsumer(e *rdbparse.Event, b *sink.Batch) {
	r.finishConsumer(b)
	r.stream.consumer = append(r.stream.consumer[:0], e.Consumer.Name...)
	r.stream.inConsumer = true
}

// finishConsumer sends the consumer's claims and makes sure it exists: its
// claims may all have found no message, and creating an existing consumer
// changes nothing.
func (r *Rebuilder) finishConsumer(b *sink.Batch) {
	if !r.stream.inConsumer {
		return
	}
	r.flushClaims(b)
	r.stream.inConsumer = false
	b.Add(r.offset, createConsumer(r.caps, r.key, r.stream.group, r.stream.consumer)...)
}

func createConsumer(caps server.Info, key, group, consumer []byte) [][]byte {
	if caps.CreateConsumer() {
		return [][]byte{[]byte("XGROUP"), []byte("CREATECONSUMER"), key, group, consumer}
	}
	return [][]byte{[]byte("XREADGROUP"), []byte("GROUP"), group, consumer, []byte("COUNT"), []byte("1"),
		[]byte("STREAMS"), key, []byte(farStreamID)}
}

func (r *Rebuilder) streamEnd(b *sink.Batch) {
	r.finishConsumer(b)
	st := &r.stream
	// Only scripted claims may have found no message and made the stream
	// be copied; the others found theirs and changed no entry.
	if st.scripted > 0 {
		r.repairStream(b)
	}
	removed := len(st.deleted) > 0
	if st.scripted > 0 || removed && r.keepsZeroMaxDeleted() {
		r.drainStream(b)
	} else {
		r.xdelDeleted(b)
	}
	if m := st.meta; r.caps.StreamV2() && m.HasV2Fields && (removed || st.scripted > 0) {
		b.Add(r.offset, []byte("XSETID"), r.key, []byte(m.LastID.String()),
			[]byte("ENTRIESADDED"), strconv.AppendUint(nil, m.EntriesAdded, 10),
			[]byte("MAXDELETEDID"), []byte(m.MaxDeletedID.String()))
	}
	clear(st.pel)
	st.deleted = st.deleted[:0]
}

// keepsZeroMaxDeleted: the target must end with max-deleted-entry-id 0-0,
// which XSETID cannot set (0-0 means "not given") once an XDEL raised it.
func (r *Rebuilder) keepsZeroMaxDeleted() bool {
	m := r.stream.meta
	return r.caps.StreamV2() && m.HasV2Fields && m.MaxDeletedID.IsZero()
}

func (r *Rebuilder) xdelDeleted(b *sink.Batch) {
	for ids := r.stream.deleted; len(ids) > 0; {
		n := min(len(ids), max(r.opt.MaxArgs, 1))
		args := make([][]byte, 0, 2+n)
		args = append(args, []byte("XDEL"), r.key)
		for _, id := range ids[:n] {
			args = append(args, []byte(id.String()))
		}
		b.Add(r.offset, args...)
		ids = ids[n:]
	}
}

// streamIDMP sets a Redis 8.6 stream's idempotent-producer settings on a
// target that has them (XCFGSET, which also clears the ids: the ids
// follow). Elsewhere the settings alone hold no data: they are dropped, and
// the ids go by on-unholdable-idmp.
func (r *Rebuilder) streamIDMP(e *rdbparse.Event, b *sink.Batch) {
	if !r.caps.StreamIDMP() {
		return
	}
	b.Add(r.offset, []byte("XCFGSET"), r.key, []byte("IDMP-DURATION"), strconv.AppendUint(nil, e.IDMP.Duration, 10),
		[]byte("IDMP-MAXSIZE"), strconv.AppendUint(nil, e.IDMP.MaxSize, 10))
}

// streamIDMPEntry records one idempotent id (producer e.Name, id e.Value,
// entry e.ID) by XIDMPRECORD (Redis 8.6.2+). A target without it goes by
// on-unholdable-idmp: a stop, the entry kept without its id (convert), or
// the entry deleted (skip: the entries added with IDMP are left out). The
// counters iids-added and iids-duplicates have no command: only RESTORE
// copies them.
func (r *Rebuilder) streamIDMPEntry(e *rdbparse.Event, b *sink.Batch) error {
	if r.caps.IDMPRecord() {
		b.Add(r.offset, []byte("XIDMPRECORD"), r.key, e.Name, e.Value, []byte(e.ID.String()))
		return nil
	}
	if r.stream.idmpAction == "" {
		what := fmt.Sprintf("stream idempotent ids (producer %q, id %q of entry %s) on %s", e.Name, e.Value, e.ID, r.caps)
		a, err := r.decide(unholdable.IDMP, what, r.key, r.offset)
		if err != nil {
			return err
		}
		r.stream.idmpAction = a
	}
	if r.stream.idmpAction == unholdable.Skip {
		b.Add(r.offset, []byte("XDEL"), r.key, []byte(e.ID.String()))
		r.stream.idmpDeleted = true
	}
	return nil
}
