package protocol

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/redferry/redferry/rdbparse"
)

// A source that renamed PSYNC (rename-command) treats the new name as the
// old SYNC: Redis and Valkey take the partial-resync path only for a command
// spelled "psync". It then answers with the snapshot itself ($<len> or
// $EOF:<mark>) instead of +FULLRESYNC <replid> <offset>, and can never
// continue a stream. The snapshot it sends for replication carries the
// replication id and offset in its AUX fields (repl-id, repl-offset): the
// same values +FULLRESYNC would have given. syncStyleResync reads them from
// the head of the snapshot without consuming it.

// errNoReplAux: a SYNC-style snapshot without repl-id/repl-offset.
var errNoReplAux = errors.New("the snapshot carries no repl-id/repl-offset AUX fields, so the stream's offsets are unknown")

// syncStyleResync builds the Resync of a SYNC-style answer whose snapshot
// starts in br (after the keep-alives).
func syncStyleResync(br *bufio.Reader) (Resync, error) {
	pr := &peekReader{br: br}
	line, err := pr.line(maxHeaderLine)
	if err != nil {
		return Resync{}, err
	}
	if len(line) < 2 || line[0] != '$' {
		return Resync{}, protoErr("snapshot header %q: expected $<length> or $EOF:<mark>", trunc(line))
	}
	var replID string
	offset := int64(-1)
	errDone := errors.New("aux fields read")
	dec := rdbparse.NewDecoder(pr, rdbparse.Options{SkipChecksum: true})
	err = dec.Decode(func(e *rdbparse.Event) error {
		switch e.Kind {
		case rdbparse.KindHeader:
			return nil
		case rdbparse.KindAux:
			switch string(e.Name) {
			case "repl-id":
				replID = string(e.Value)
			case "repl-offset":
				n, err := strconv.ParseInt(string(e.Value), 10, 64)
				if err != nil || n < 0 {
					return protoErr("snapshot AUX repl-offset %q is not an offset", trunc(e.Value))
				}
				offset = n
			}
			return nil
		}
		return errDone
	})
	if err != nil && !errors.Is(err, errDone) {
		return Resync{}, fmt.Errorf("reading the replication id and offset from the snapshot's head: %w", err)
	}
	if replID == "" || offset < 0 {
		return Resync{}, errNoReplAux
	}
	return Resync{Full: true, ReplID: replID, Offset: offset, SyncStyle: true}, nil
}

// peekReader reads br through Peek: nothing is consumed. The decoder asks
// for exactly the bytes it needs, so Peek never waits for bytes past them.
type peekReader struct {
	br  *bufio.Reader
	pos int
}

func (p *peekReader) Read(b []byte) (int, error) {
	if p.pos+len(b) > p.br.Size() {
		return 0, protoErr("the snapshot's AUX fields do not fit in %d bytes", p.br.Size())
	}
	buf, err := p.br.Peek(p.pos + len(b))
	n := copy(b, buf[min(p.pos, len(buf)):])
	p.pos += n
	if n == 0 && err == nil {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// line returns the header line ($…) without its CRLF, and moves past it.
func (p *peekReader) line(max int) ([]byte, error) {
	for n := 1; n <= max+2; n++ {
		buf, err := p.br.Peek(n)
		if err != nil {
			return nil, eofIsUnexpected(err)
		}
		if bytes.HasSuffix(buf, []byte("\r\n")) {
			p.pos = n
			return buf[:n-2], nil
		}
	}
	return nil, protoErr("snapshot header longer than %d bytes", max)
}
