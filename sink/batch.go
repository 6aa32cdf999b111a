package sink

import (
	"fmt"

	"github.com/redferry/redferry/protocol"
)

// Batch is a run of commands applied to the target as one transaction. The
// commands are RESP-encoded into one buffer that Reset keeps for reuse; each
// carries the source offset it stands for, for error reports and checkpoints.
type Batch struct {
	// StartDB is the db the first command runs in; the sink selects it
	// inside the transaction before the commands.
	StartDB int
	// Checkpoint, when non-nil, is written in the same transaction as
	// SET <checkpoint key> <Checkpoint> in db 0.
	Checkpoint []byte
	// Retry: the batch applies again a command the target rejected
	// (syncer --retry-rejected), which the checkpoint already covers: a
	// cluster sink applies it although its slot's mark is past it.
	Retry bool
	// OnExecRejected, when set, is called by a cluster sink stopping on
	// rejected commands as soon as a slot's EXEC reply shows one, with all
	// those of the batch so far, before the batch's other transactions and
	// its checkpoint: the caller makes them durable, since a stop before
	// Apply returns would otherwise lose them while the slot's mark is past
	// them (syncer rejected_pending.go).
	OnExecRejected func([]RejectedCommand)

	buf  []byte
	ends []int   // ends[i]: end of command i in buf
	offs []int64 // offs[i]: source offset of command i
	// asking: a cluster sink sends ASKING before the transaction.
	asking bool
	// noSelect: a cluster sink's transaction all in db 0, sent without
	// the SELECTs (a cluster connection stays in db 0).
	noSelect bool
	// atomic: runs of commands the source applied as one (MULTI/EXEC,
	// scripts), which a cluster cannot when they span slots.
	atomic []atomicSpan
	open   int // 1 + the index where the open atomic run starts; 0: none
}

// Reset empties the batch, keeping its buffers.
func (b *Batch) Reset() {
	b.StartDB = 0
	b.Checkpoint = nil
	b.Retry = false
	b.OnExecRejected = nil
	b.buf = b.buf[:0]
	b.ends = b.ends[:0]
	b.offs = b.offs[:0]
	b.asking = false
	b.noSelect = false
	b.atomic = b.atomic[:0]
	b.open = 0
}

// Add encodes a command. offset is the source position it stands for: the
// stream offset after the command, or the snapshot position of the key.
func (b *Batch) Add(offset int64, args ...[]byte) {
	b.buf = protocol.AppendCommand(b.buf, args...)
	b.mark(offset)
}

// AddStrings is Add for string arguments.
func (b *Batch) AddStrings(offset int64, args ...string) {
	b.buf = protocol.AppendCommandString(b.buf, args...)
	b.mark(offset)
}

// AddRaw appends a command already encoded in RESP (a multibulk array), such
// as the replication stream's exact bytes. The caller guarantees it is one
// complete command.
func (b *Batch) AddRaw(offset int64, raw []byte) {
	b.buf = append(b.buf, raw...)
	b.mark(offset)
}

// BeginCommand starts a command of n arguments, given one by one with Arg or
// ArgFunc and closed with EndCommand: for commands built element by element
// without a slice of their arguments.
func (b *Batch) BeginCommand(n int) { b.buf = appendLen(b.buf, '*', n) }

// Arg appends one argument of the command begun with BeginCommand.
func (b *Batch) Arg(a []byte) {
	b.buf = appendLen(b.buf, '$', len(a))
	b.buf = append(b.buf, a...)
	b.buf = append(b.buf, '\r', '\n')
}

// ArgFunc appends one argument of exactly size bytes that fill appends to
// its dst, written in place: no copy of a big value (a RESTORE payload).
func (b *Batch) ArgFunc(size int, fill func(dst []byte) []byte) {
	b.buf = appendLen(b.buf, '$', size)
	start := len(b.buf)
	b.buf = fill(b.buf)
	if n := len(b.buf) - start; n != size {
		panic(fmt.Sprintf("sink: Batch.ArgFunc: fill appended %d bytes, not the %d announced", n, size))
	}
	b.buf = append(b.buf, '\r', '\n')
}

// EndCommand closes the command begun with BeginCommand; offset is as in Add.
func (b *Batch) EndCommand(offset int64) { b.mark(offset) }

// Append appends o's commands to b (b keeps its StartDB and Checkpoint).
func (b *Batch) Append(o *Batch) {
	for i := range o.ends {
		start, end := o.span(i)
		b.AddRaw(o.offs[i], o.buf[start:end])
	}
}

func (b *Batch) mark(offset int64) {
	b.ends = append(b.ends, len(b.buf))
	b.offs = append(b.offs, offset)
}

// Len returns the number of commands.
func (b *Batch) Len() int { return len(b.ends) }

// Size returns the encoded size in bytes.
func (b *Batch) Size() int { return len(b.buf) }

// Bytes returns the encoded commands; valid until the batch changes.
func (b *Batch) Bytes() []byte { return b.buf }

func (b *Batch) span(i int) (start, end int) {
	if i > 0 {
		start = b.ends[i-1]
	}
	return start, b.ends[i]
}

// Command parses the i-th command back into its arguments (copies) and
// returns its offset. A command that does not parse yields nil args.
func (b *Batch) Command(i int) (args [][]byte, offset int64) {
	start, end := b.span(i)
	args, _ = parseCommand(b.buf[start:end], true)
	return args, b.offs[i]
}

// commandView is Command without copying the arguments: they point into
// the batch's buffer, valid until the batch changes.
func (b *Batch) commandView(i int) (args [][]byte, offset int64) {
	start, end := b.span(i)
	args, _ = parseCommand(b.buf[start:end], false)
	return args, b.offs[i]
}

// Raw returns the i-th command's RESP bytes; valid until the batch changes.
func (b *Batch) Raw(i int) []byte {
	start, end := b.span(i)
	return b.buf[start:end]
}

// Offset returns the source offset of the i-th command.
func (b *Batch) Offset(i int) int64 { return b.offs[i] }

// without returns a copy of the batch lacking the commands in skip.
func (b *Batch) without(skip map[int]bool) *Batch {
	nb := &Batch{StartDB: b.StartDB, Checkpoint: b.Checkpoint}
	for i := range b.ends {
		if skip[i] {
			continue
		}
		start, end := b.span(i)
		nb.AddRaw(b.offs[i], b.buf[start:end])
	}
	return nb
}

// parseCommand decodes one RESP array of bulk strings: copies of the
// arguments, or with copyArgs false slices of p (capacity capped, so an
// append to one cannot overwrite what follows it).
func parseCommand(p []byte, copyArgs bool) ([][]byte, error) {
	line, rest, ok := cutLine(p)
	if !ok || len(line) < 2 || line[0] != '*' {
		return nil, fmt.Errorf("%w: command is not a RESP array", errProtocol)
	}
	n, ok := parseDigits(line[1:])
	if !ok || n > len(p) {
		return nil, fmt.Errorf("%w: bad array length %q", errProtocol, line)
	}
	args := make([][]byte, 0, n)
	for i := 0; i < n; i++ {
		line, rest, ok = cutLine(rest)
		if !ok || len(line) < 2 || line[0] != '$' {
			return nil, fmt.Errorf("%w: argument %d is not a bulk string", errProtocol, i)
		}
		l, ok := parseDigits(line[1:])
		if !ok || l+2 > len(rest) || rest[l] != '\r' || rest[l+1] != '\n' {
			return nil, fmt.Errorf("%w: bad bulk length %q", errProtocol, line)
		}
		if copyArgs {
			args = append(args, append(make([]byte, 0, l), rest[:l]...))
		} else {
			args = append(args, rest[:l:l])
		}
		rest = rest[l+2:]
	}
	return args, nil
}

func cutLine(p []byte) (line, rest []byte, ok bool) {
	for i := 0; i+1 < len(p); i++ {
		if p[i] == '\r' && p[i+1] == '\n' {
			return p[:i], p[i+2:], true
		}
	}
	return nil, p, false
}
