package transform

import (
	"bytes"
	"fmt"
	"math"
	"sort"
	"strconv"

	"github.com/redferry/redferry/pkg/server"
	"github.com/redferry/redferry/pkg/unholdable"
	"github.com/redferry/redferry/rdbparse"
	"github.com/redferry/redferry/sink"
)

// RebuildOptions tune the Rebuilder.
type RebuildOptions struct {
	MaxArgs     int  // elements (not counting command and key) per command; default 256
	MaxBytes    int  // bytes of arguments per command; default 1 MiB
	DeleteFirst bool // DEL each key before rebuilding it (merge into a non-empty target, resume)
	// Unholdable: what to do with data the target cannot hold (default: stop).
	Unholdable Unholdable
}

// Rebuilder turns snapshot events into commands that rebuild each key on the
// target. It holds at most one command's worth of a key (MaxArgs/MaxBytes),
// plus, for a stream, the PEL of the consumer group being rebuilt.
//
// DB changes come as SELECT commands in the batch; a caller starting a new
// batch sets its StartDB to DB().
type Rebuilder struct {
	caps server.Info
	opt  RebuildOptions

	db int // the db the batch's commands currently run in; -1: none selected yet

	// the key being rebuilt
	key      []byte
	typ      rdbparse.ValueType
	expireAt int64
	offset   int64
	inKey    bool
	started  bool  // a string's first piece was sent
	strLen   int64 // a string's length when the snapshot says it up front; -1: unknown
	strSent  int64 // bytes of the string sent so far
	// holdNotes: skips and conversions are held in heldNotes, not counted
	// yet (set by the Restorer while the key may still go by RESTORE).
	holdNotes bool
	heldNotes []heldNote
	// fieldTTLAction is what the key's hash field TTLs get on a target
	// without them, decided (and counted) once per key at its first
	// field with a TTL; "" until then.
	fieldTTLAction unholdable.Action

	// the command being filled: cmd name, key, then args
	pendName  string
	pendArgs  [][]byte // slices of pendBuf
	pendBuf   []byte
	pendBytes int
	ttlFields []fieldTTL // hash fields of the pending HSET that carry a TTL

	stream streamState
}

type fieldTTL struct {
	at  int64
	idx int // the field's index in pendArgs
}

// NewRebuilder returns a Rebuilder for a target with caps.
func NewRebuilder(caps server.Info, opt RebuildOptions) *Rebuilder {
	if opt.MaxArgs <= 0 {
		opt.MaxArgs = 256
	}
	if opt.MaxBytes <= 0 {
		opt.MaxBytes = 1 << 20
	}
	return &Rebuilder{caps: caps, opt: opt, db: -1}
}

// DB returns the db the next command runs in (0 before any key).
func (r *Rebuilder) DB() int { return max(r.db, 0) }

// SetDB tells the Rebuilder the db a new batch starts in (its StartDB).
func (r *Rebuilder) SetDB(db int) { r.db = db }

// Handle appends the commands for e to b. Data the target cannot hold goes
// as RebuildOptions.Unholdable says; a stop is an error wrapping
// ErrUnsupported, and the key is then incomplete on the target.
func (r *Rebuilder) Handle(e *rdbparse.Event, b *sink.Batch) error {
	switch e.Kind {
	case rdbparse.KindKey:
		return r.beginKey(e, b)
	case rdbparse.KindString:
		return r.stringPiece(e, b)
	case rdbparse.KindListItem:
		r.element(b, "RPUSH", e.Value)
	case rdbparse.KindSetMember:
		r.element(b, "SADD", e.Value)
	case rdbparse.KindZSetMember:
		r.element(b, "ZADD", formatScore(e.Score), e.Value)
	case rdbparse.KindHashField:
		if e.FieldExpireAt != 0 && !r.caps.HashFieldTTL() {
			return r.unholdableField(e, b)
		}
		r.element(b, "HSET", e.Name, e.Value)
		if e.FieldExpireAt != 0 {
			r.ttlFields = append(r.ttlFields, fieldTTL{at: e.FieldExpireAt, idx: len(r.pendArgs) - 2})
		}
	case rdbparse.KindStreamEntry:
		r.streamEntry(e, b)
		r.stream.noteLive(e.ID)
	case rdbparse.KindStreamDeletedEntry:
		r.streamDeletedEntry(e, b)
	case rdbparse.KindStreamMeta:
		return r.streamMeta(e, b)
	case rdbparse.KindStreamGroup:
		r.streamGroup(e, b)
	case rdbparse.KindStreamPending:
		r.streamPending(e)
	case rdbparse.KindStreamConsumer:
		r.streamConsumer(e, b)
	case rdbparse.KindStreamConsumerPending:
		r.streamConsumerPending(e, b)
	case rdbparse.KindStreamIDMP:
		r.streamIDMP(e, b)
	case rdbparse.KindStreamIDMPEntry:
		return r.streamIDMPEntry(e, b)
	case rdbparse.KindKeyEnd:
		return r.endKey(b)
	case rdbparse.KindFunction:
		if !r.caps.Functions() {
			what := fmt.Sprintf("function library %q (FUNCTION LOAD) on %s", libraryName(e.Value), r.caps)
			_, err := r.decide(unholdable.Functions, what, nil, e.Offset)
			return err // skip: left out
		}
		b.Add(e.Offset, []byte("FUNCTION"), []byte("LOAD"), []byte("REPLACE"), e.Value)
	case rdbparse.KindModuleValue:
		// The Restorer RESTOREs module values it can; this is one it cannot
		// (or a RESTORE payload rebuilt for the live stream).
		_, err := r.decide(unholdable.Module, fmt.Sprintf("module value (module %q) on %s", e.Name, r.caps), r.key, r.offset)
		return err // skip: nothing written for the key
	}
	return nil
}

// unholdableField handles a hash field with a TTL on a target without
// field TTLs: stop, leave the field out (skip), or write it without its
// TTL (convert). The action is decided and counted once per key.
func (r *Rebuilder) unholdableField(e *rdbparse.Event, b *sink.Batch) error {
	if r.fieldTTLAction == "" {
		what := fmt.Sprintf("hash field TTL (field %q) on %s", e.Name, r.caps)
		a, err := r.decide(unholdable.FieldTTL, what, r.key, r.offset)
		if err != nil {
			return err
		}
		r.fieldTTLAction = a
	}
	if r.fieldTTLAction == unholdable.Convert {
		r.element(b, "HSET", e.Name, e.Value)
	}
	return nil
}

// libraryName is the name= of a library's "#!engine name=lib" line, for
// messages ("" when there is none).
func libraryName(code []byte) string {
	line, _, _ := bytes.Cut(code, []byte("\n"))
	for _, f := range bytes.Fields(line) {
		if name, ok := bytes.CutPrefix(f, []byte("name=")); ok {
			return string(name)
		}
	}
	return ""
}

func (r *Rebuilder) beginKey(e *rdbparse.Event, b *sink.Batch) error {
	if r.inKey {
		return fmt.Errorf("sink: key %q at offset %d starts before key %q ended", e.Key, e.Offset, r.key)
	}
	r.inKey, r.started, r.fieldTTLAction = true, false, ""
	r.key = append(r.key[:0], e.Key...)
	r.typ, r.expireAt, r.offset = e.Type, e.ExpireAt, e.Offset
	r.strLen, r.strSent = -1, 0
	if e.Type == rdbparse.TypeString && e.Len >= 0 {
		r.strLen = e.Len
	}
	r.stream.reset()
	if e.DB != r.db {
		b.AddStrings(e.Offset, "SELECT", strconv.Itoa(e.DB))
		r.db = e.DB
	}
	if r.opt.DeleteFirst {
		b.Add(e.Offset, []byte("DEL"), r.key)
	}
	return nil
}

func (r *Rebuilder) endKey(b *sink.Batch) error {
	if !r.inKey {
		return fmt.Errorf("sink: key end without a key")
	}
	r.flush(b)
	if r.typ == rdbparse.TypeString && !r.started {
		b.Add(r.offset, []byte("SET"), r.key, nil)
	}
	if r.typ == rdbparse.TypeStream {
		r.streamEnd(b)
	}
	if r.expireAt > 0 {
		b.Add(r.offset, []byte("PEXPIREAT"), r.key, strconv.AppendInt(nil, r.expireAt, 10))
	}
	r.inKey = false
	return nil
}

// stringPiece sends SET for the first piece and the rest in pieces of at
// most MaxBytes. When the whole length is known, the first SET is followed
// by a SETRANGE at the last byte that sizes the value once, and the rest go
// as SETRANGE into place: a run of APPENDs makes the target grow (copy) the
// value again and again, which cost it 5x the CPU on a 128 MiB string.
func (r *Rebuilder) stringPiece(e *rdbparse.Event, b *sink.Batch) error {
	v := e.Value
	var num [20]byte
	for {
		n := min(len(v), r.opt.MaxBytes)
		switch {
		case !r.started:
			r.started = true
			b.Add(r.offset, []byte("SET"), r.key, v[:n])
			if r.strLen > int64(n) {
				b.Add(r.offset, []byte("SETRANGE"), r.key, strconv.AppendInt(num[:0], r.strLen-1, 10), []byte{0})
			}
		case r.strLen >= 0:
			b.Add(r.offset, []byte("SETRANGE"), r.key, strconv.AppendInt(num[:0], r.strSent, 10), v[:n])
		default:
			b.Add(r.offset, []byte("APPEND"), r.key, v[:n])
		}
		r.strSent += int64(n)
		v = v[n:]
		if len(v) == 0 {
			return nil
		}
	}
}

// element adds one element (one or two arguments) to the pending command
// name, sending it first when it is full.
func (r *Rebuilder) element(b *sink.Batch, name string, args ...[]byte) {
	size := 0
	for _, a := range args {
		size += len(a)
	}
	if r.pendName != name || len(r.pendArgs)/len(args) >= r.opt.MaxArgs ||
		len(r.pendArgs) > 0 && r.pendBytes+size > r.opt.MaxBytes {
		r.flush(b)
		r.pendName = name
	}
	for _, a := range args {
		start := len(r.pendBuf)
		r.pendBuf = append(r.pendBuf, a...)
		r.pendArgs = append(r.pendArgs, r.pendBuf[start:len(r.pendBuf):len(r.pendBuf)])
	}
	r.pendBytes += size
}

// flush sends the pending command, and the field TTLs of a pending HSET.
func (r *Rebuilder) flush(b *sink.Batch) {
	if len(r.pendArgs) == 0 {
		return
	}
	// pendBuf may have been reallocated while filling: re-slice the args.
	off := 0
	for i, a := range r.pendArgs {
		r.pendArgs[i] = r.pendBuf[off : off+len(a)]
		off += len(a)
	}
	b.BeginCommand(len(r.pendArgs) + 2)
	b.Arg([]byte(r.pendName))
	b.Arg(r.key)
	for _, a := range r.pendArgs {
		b.Arg(a)
	}
	b.EndCommand(r.offset)
	if len(r.ttlFields) > 0 {
		r.flushFieldTTLs(b)
	}
	r.pendArgs, r.pendBuf, r.pendBytes, r.pendName = r.pendArgs[:0], r.pendBuf[:0], 0, ""
	r.ttlFields = r.ttlFields[:0]
}

// flushFieldTTLs sends HPEXPIREAT key ms FIELDS n f… for each run of fields
// with the same TTL.
func (r *Rebuilder) flushFieldTTLs(b *sink.Batch) {
	ttls := r.ttlFields
	sort.SliceStable(ttls, func(i, j int) bool { return ttls[i].at < ttls[j].at })
	for i := 0; i < len(ttls); {
		j := i
		for j < len(ttls) && ttls[j].at == ttls[i].at {
			j++
		}
		b.BeginCommand(5 + j - i)
		b.Arg([]byte("HPEXPIREAT"))
		b.Arg(r.key)
		b.Arg(strconv.AppendInt(nil, ttls[i].at, 10))
		b.Arg([]byte("FIELDS"))
		b.Arg(strconv.AppendInt(nil, int64(j-i), 10))
		for _, t := range ttls[i:j] {
			b.Arg(r.pendArgs[t.idx])
		}
		b.EndCommand(r.offset)
		i = j
	}
}

// formatScore formats a double so that ZADD parses back the same value.
func formatScore(f float64) []byte {
	switch {
	case math.IsInf(f, 1):
		return []byte("inf")
	case math.IsInf(f, -1):
		return []byte("-inf")
	}
	return strconv.AppendFloat(nil, f, 'g', -1, 64)
}
