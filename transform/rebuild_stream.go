package transform

import (
	"strconv"

	"github.com/redferry/redferry/pkg/server"
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
	entries    int
	deleted    []rdbparse.StreamID // entries added only so their PEL entries can be claimed
	group      []byte
	pel        map[rdbparse.StreamID]pelInfo
	consumer   []byte
	inConsumer bool
	// claims: the consumer's pending entries not sent yet, a run with the
	// same delivery time and count, sent as one XCLAIM (claimRun).
	claims     []rdbparse.StreamID
	claimTime  int64
	claimCount uint64
}

func (s *streamState) reset() {
	s.entries = 0
	s.deleted = s.deleted[:0]
	s.group = s.group[:0]
	clear(s.pel)
	s.inConsumer = false
	s.claims = s.claims[:0]
}

func (r *Rebuilder) streamEntry(e *rdbparse.Event, b *sink.Batch) {
	var num [40]byte
	b.BeginCommand(3 + len(e.Fields))
	b.Arg([]byte("XADD"))
	b.Arg(r.key)
	b.Arg(appendStreamID(num[:0], e.ID))
	for _, f := range e.Fields {
		b.Arg(f)
	}
	b.EndCommand(r.offset)
	r.stream.entries++
}

// streamDeletedEntry adds an entry that was deleted but is still stored:
// a pending entry can only be claimed (XCLAIM) while its entry exists, so it
// is added now and deleted again once the groups are rebuilt (XDEL leaves the
// PELs alone). XSETID on 7.0+ restores entries-added and max-deleted-id.
func (r *Rebuilder) streamDeletedEntry(e *rdbparse.Event, b *sink.Batch) {
	r.streamEntry(e, b)
	r.stream.deleted = append(r.stream.deleted, e.ID)
}

// streamMeta creates the stream if it has no entries and sets its last id
// (and, on 7.0+, entries-added and max-deleted-id).
//
// An empty stream: XGROUP CREATE key tmp 0 MKSTREAM + XGROUP DESTROY works on
// 6.0 through 8.x and Valkey, also for last id 0-0 (XADD … MAXLEN 0 cannot
// use id 0-0).
func (r *Rebuilder) streamMeta(e *rdbparse.Event, b *sink.Batch) {
	if r.stream.entries == 0 {
		b.AddStrings(r.offset, "XGROUP", "CREATE", string(r.key), tmpGroup, "0", "MKSTREAM")
		b.AddStrings(r.offset, "XGROUP", "DESTROY", string(r.key), tmpGroup)
	}
	m := e.Stream
	args := [][]byte{[]byte("XSETID"), r.key, []byte(m.LastID.String())}
	if r.caps.StreamV2() && m.HasV2Fields {
		args = append(args, []byte("ENTRIESADDED"), strconv.AppendUint(nil, m.EntriesAdded, 10),
			[]byte("MAXDELETEDID"), []byte(m.MaxDeletedID.String()))
	}
	b.Add(r.offset, args...)
}

func (r *Rebuilder) streamGroup(e *rdbparse.Event, b *sink.Batch) {
	r.finishConsumer(b)
	g := e.Group
	r.stream.group = append(r.stream.group[:0], g.Name...)
	clear(r.stream.pel)
	args := [][]byte{[]byte("XGROUP"), []byte("CREATE"), r.key, r.stream.group, []byte(g.LastID.String())}
	if r.caps.StreamV2() && g.HasEntriesRead && g.EntriesRead >= 0 {
		args = append(args, []byte("ENTRIESREAD"), strconv.AppendInt(nil, g.EntriesRead, 10))
	}
	b.Add(r.offset, args...)
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

// streamConsumerPending gives the entry to the consumer with the group PEL's
// delivery time and count. XCLAIM … FORCE ignores ids no longer in the stream
// (deleted after delivery): such PEL entries cannot be rebuilt by commands.
//
// One XCLAIM takes many ids, all given the same TIME and RETRYCOUNT, and a
// consumer's entries mostly share them (those of one XREADGROUP do): a run
// of equal ones goes as one command. An XCLAIM per entry made the target
// spend more on a stream's PEL than on its entries.
func (r *Rebuilder) streamConsumerPending(e *rdbparse.Event, b *sink.Batch) {
	p, ok := r.stream.pel[e.ID]
	if !ok {
		p = pelInfo{time: 0, count: 1}
	}
	delete(r.stream.pel, e.ID)
	st := &r.stream
	if len(st.claims) > 0 && (st.claimTime != p.time || st.claimCount != p.count || len(st.claims) >= r.opt.MaxArgs) {
		r.flushClaims(b)
	}
	st.claimTime, st.claimCount = p.time, p.count
	st.claims = append(st.claims, e.ID)
}

// flushClaims sends the run of pending entries gathered for the consumer.
func (r *Rebuilder) flushClaims(b *sink.Batch) {
	st := &r.stream
	if len(st.claims) == 0 {
		return
	}
	var num [40]byte
	b.BeginCommand(11 + len(st.claims))
	b.Arg([]byte("XCLAIM"))
	b.Arg(r.key)
	b.Arg(st.group)
	b.Arg(st.consumer)
	b.Arg([]byte("0"))
	for _, id := range st.claims {
		b.Arg(appendStreamID(num[:0], id))
	}
	b.Arg([]byte("TIME"))
	b.Arg(strconv.AppendInt(num[:0], st.claimTime, 10))
	b.Arg([]byte("RETRYCOUNT"))
	b.Arg(strconv.AppendUint(num[:0], st.claimCount, 10))
	b.Arg([]byte("FORCE"))
	b.Arg([]byte("JUSTID"))
	b.EndCommand(r.offset)
	st.claims = st.claims[:0]
}

// finishConsumer makes sure the current consumer exists: its XCLAIMs may all
// have been ignored (entries no longer in the stream), and creating an
// existing consumer changes nothing.
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
	for len(r.stream.deleted) > 0 {
		n := min(len(r.stream.deleted), max(r.opt.MaxArgs, 1))
		args := make([][]byte, 0, 2+n)
		args = append(args, []byte("XDEL"), r.key)
		for _, id := range r.stream.deleted[:n] {
			args = append(args, []byte(id.String()))
		}
		b.Add(r.offset, args...)
		r.stream.deleted = r.stream.deleted[n:]
	}
	clear(r.stream.pel)
}

// appendStreamID appends id as ms-seq (without fmt: a stream rebuilds an id
// per entry).
func appendStreamID(dst []byte, id rdbparse.StreamID) []byte {
	dst = strconv.AppendUint(dst, id.Ms, 10)
	dst = append(dst, '-')
	return strconv.AppendUint(dst, id.Seq, 10)
}
