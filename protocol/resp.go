// Package protocol speaks the parts of RESP that redferry needs: a reply
// reader for the replication handshake and the sink's replies, a command
// writer, the replication stream's command reader, and Link, a replica-side
// connection to a source server (handshake, PSYNC, snapshot, command stream).
//
// Every length read from the wire is checked against Limits before it is
// used, and memory grows only with the bytes that actually arrive, so a peer
// that announces a huge length cannot make the reader allocate it.
package protocol

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Kind is the type of a RESP2 reply, named by its first byte on the wire.
type Kind byte

const (
	KindSimple Kind = '+' // +OK\r\n
	KindError  Kind = '-' // -ERR message\r\n
	KindInt    Kind = ':' // :42\r\n
	KindBulk   Kind = '$' // $3\r\nfoo\r\n, or $-1\r\n (null)
	KindArray  Kind = '*' // *2\r\n<reply><reply>, or *-1\r\n (null)
)

func (k Kind) String() string {
	switch k {
	case KindSimple:
		return "simple string"
	case KindError:
		return "error"
	case KindInt:
		return "integer"
	case KindBulk:
		return "bulk string"
	case KindArray:
		return "array"
	}
	return fmt.Sprintf("kind(%q)", byte(k))
}

// Reply is one RESP2 reply.
type Reply struct {
	Kind  Kind
	Null  bool    // $-1 or *-1
	Str   []byte  // the text of a simple string or error, the payload of a bulk string
	Int   int64   // the value of an integer; the length of an array
	Elems []Reply // the elements of an array
}

// Err returns the reply as a ServerError when it is an error reply, else nil.
func (r Reply) Err() error {
	if r.Kind == KindError {
		return ServerError(r.Str)
	}
	return nil
}

// Text returns Str as a string (a copy).
func (r Reply) Text() string { return string(r.Str) }

// Limits bound what a reader accepts. Zero fields take the defaults.
type Limits struct {
	MaxLine     int   // length of a simple string, error or length line, CRLF excluded (default 64 KiB)
	MaxBulk     int64 // length of one bulk string (default 512 MiB, Redis' proto-max-bulk-len)
	MaxArray    int64 // elements of one array (default 1<<24; for commands of the stream 1<<31-1, as Redis accepts)
	MaxDepth    int   // nesting of arrays (default 16)
	MaxElements int   // elements of all arrays in one reply together (default 1<<24)
}

// DefaultLimits are the limits used for zero fields.
var DefaultLimits = Limits{MaxLine: 64 << 10, MaxBulk: 512 << 20, MaxArray: 1 << 24, MaxDepth: 16, MaxElements: 1 << 24}

func (l Limits) withDefaults() Limits {
	if l.MaxLine <= 0 {
		l.MaxLine = DefaultLimits.MaxLine
	}
	if l.MaxBulk <= 0 {
		l.MaxBulk = DefaultLimits.MaxBulk
	}
	if l.MaxArray <= 0 {
		l.MaxArray = DefaultLimits.MaxArray
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultLimits.MaxDepth
	}
	if l.MaxElements <= 0 {
		l.MaxElements = DefaultLimits.MaxElements
	}
	return l
}

// ErrProtocol is wrapped by every error about malformed input.
var ErrProtocol = errors.New("protocol error")

func protoErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrProtocol, fmt.Sprintf(format, args...))
}

// ServerError is an error reply: the text after '-', e.g. "ERR unknown command".
type ServerError string

func (e ServerError) Error() string { return string(e) }

// Prefix returns the error code: the first word, e.g. "ERR", "LOADING",
// "NOMASTERLINK", "NOAUTH", "WRONGPASS", "NOPERM", "MOVED", "ASK".
func (e ServerError) Prefix() string {
	s := string(e)
	if i := strings.IndexByte(s, ' '); i >= 0 {
		return s[:i]
	}
	return s
}

// HasPrefix reports whether the error code is prefix.
func (e ServerError) HasPrefix(prefix string) bool { return e.Prefix() == prefix }

// Redirect parses "MOVED <slot> <host:port>" and "ASK <slot> <host:port>".
func (e ServerError) Redirect() (slot int, addr string, ask, ok bool) {
	f := strings.Fields(string(e))
	if len(f) != 3 || (f[0] != "MOVED" && f[0] != "ASK") {
		return 0, "", false, false
	}
	n, err := strconv.Atoi(f[1])
	if err != nil || n < 0 || n > 16383 {
		return 0, "", false, false
	}
	return n, f[2], f[0] == "ASK", true
}

// Reader reads RESP2 replies from a bufio.Reader, reusing its buffers: a
// Reply it returns, with every slice in it, is valid until the next call.
type Reader struct {
	br     *bufio.Reader
	lim    Limits
	buf    []byte // strings of the current reply
	nodes  []node // the current reply, flattened in pre-order
	elems  []Reply
	line   []byte // scratch for lines longer than the bufio buffer
	cursor int
}

type node struct {
	kind       Kind
	null       bool
	n          int64 // integer value, or element count
	start, end int   // string bounds in buf
}

// NewReader returns a Reader over br with limits lim (zero fields: defaults).
func NewReader(br *bufio.Reader, lim Limits) *Reader {
	return &Reader{br: br, lim: lim.withDefaults()}
}

// Reset makes r read from br, keeping its buffers.
func (r *Reader) Reset(br *bufio.Reader) { r.br = br }

// ReadReply reads one reply with the default limits. Its slices are freshly
// allocated; use a Reader to reuse buffers across replies.
func ReadReply(br *bufio.Reader) (Reply, error) {
	return NewReader(br, Limits{}).ReadReply()
}

// ReadReply reads one reply. An error reply comes back as a Reply of
// KindError, and also as a ServerError in err when it is the whole reply (not
// an element of an array). Other errors are I/O errors (io.EOF when the input
// ends before the first byte, io.ErrUnexpectedEOF inside a reply) or wrap
// ErrProtocol; after one the stream is not aligned any more.
func (r *Reader) ReadReply() (Reply, error) {
	r.buf = r.buf[:0]
	r.nodes = r.nodes[:0]
	if err := r.readNode(0); err != nil {
		if errors.Is(err, io.EOF) && len(r.nodes) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return Reply{}, err
	}
	if cap(r.elems) < len(r.nodes) {
		r.elems = make([]Reply, len(r.nodes))
	}
	r.elems = r.elems[:len(r.nodes)]
	r.cursor = 1
	rep, _ := r.build(0)
	if rep.Kind == KindError {
		return rep, ServerError(rep.Str)
	}
	return rep, nil
}

// build turns nodes[i] and its subtree into a Reply, placing array elements
// in r.elems from r.cursor on; it returns the index after the subtree.
func (r *Reader) build(i int) (Reply, int) {
	nd := r.nodes[i]
	rep := Reply{Kind: nd.kind, Null: nd.null}
	switch nd.kind {
	case KindInt:
		rep.Int = nd.n
		return rep, i + 1
	case KindArray:
		rep.Int = nd.n
		if nd.null {
			return rep, i + 1
		}
		at := r.cursor
		r.cursor += int(nd.n)
		rep.Elems = r.elems[at:r.cursor:r.cursor]
		j := i + 1
		for k := range rep.Elems {
			rep.Elems[k], j = r.build(j)
		}
		return rep, j
	default:
		if !nd.null {
			rep.Str = r.buf[nd.start:nd.end:nd.end]
		}
		return rep, i + 1
	}
}

func (r *Reader) readNode(depth int) error {
	if len(r.nodes) >= r.lim.MaxElements {
		return protoErr("reply has more than %d elements", r.lim.MaxElements)
	}
	line, err := readLine(r.br, &r.line, r.lim.MaxLine)
	if err != nil {
		return err
	}
	if len(line) == 0 {
		return protoErr("empty reply line")
	}
	kind, rest := Kind(line[0]), line[1:]
	switch kind {
	case KindSimple, KindError:
		start := len(r.buf)
		r.buf = append(r.buf, rest...)
		r.nodes = append(r.nodes, node{kind: kind, start: start, end: len(r.buf)})
		return nil
	case KindInt:
		n, ok := parseInt(rest)
		if !ok {
			return protoErr("bad integer %q", trunc(rest))
		}
		r.nodes = append(r.nodes, node{kind: kind, n: n})
		return nil
	case KindBulk:
		n, ok := parseInt(rest)
		if !ok || n < -1 {
			return protoErr("bad bulk length %q", trunc(rest))
		}
		if n == -1 {
			r.nodes = append(r.nodes, node{kind: kind, null: true})
			return nil
		}
		if n > r.lim.MaxBulk {
			return protoErr("bulk length %d over the limit %d", n, r.lim.MaxBulk)
		}
		start := len(r.buf)
		r.nodes = append(r.nodes, node{kind: kind})
		if r.buf, err = readBulk(r.br, r.buf, n); err != nil {
			return err
		}
		r.nodes[len(r.nodes)-1].start, r.nodes[len(r.nodes)-1].end = start, len(r.buf)
		return nil
	case KindArray:
		n, ok := parseInt(rest)
		if !ok || n < -1 {
			return protoErr("bad array length %q", trunc(rest))
		}
		if n == -1 {
			r.nodes = append(r.nodes, node{kind: kind, null: true})
			return nil
		}
		if n > r.lim.MaxArray {
			return protoErr("array length %d over the limit %d", n, r.lim.MaxArray)
		}
		if depth+1 > r.lim.MaxDepth {
			return protoErr("arrays nested deeper than %d", r.lim.MaxDepth)
		}
		r.nodes = append(r.nodes, node{kind: kind, n: n})
		for i := int64(0); i < n; i++ {
			if err := r.readNode(depth + 1); err != nil {
				return err
			}
		}
		return nil
	}
	return protoErr("unexpected reply type %q", trunc(line))
}

// readLine reads a line ending in CRLF and returns it without the CRLF. The
// result aliases br's buffer (or *scratch) and is valid until the next read.
// A line longer than max is an error.
func readLine(br *bufio.Reader, scratch *[]byte, max int) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		s := append((*scratch)[:0], line...)
		for err == bufio.ErrBufferFull {
			if len(s) > max+2 {
				*scratch = s[:0]
				return nil, protoErr("line longer than %d bytes", max)
			}
			line, err = br.ReadSlice('\n')
			s = append(s, line...)
		}
		*scratch = s[:0]
		line = s
	}
	if err != nil {
		if err == io.EOF && len(line) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return nil, protoErr("line %q does not end in CRLF", trunc(line))
	}
	if len(line)-2 > max {
		return nil, protoErr("line longer than %d bytes", max)
	}
	return line[:len(line)-2], nil
}

// readBulk appends n bytes and then expects CRLF. It grows dst only with the
// bytes that arrive, so a large announced n costs nothing until it is sent.
func readBulk(br *bufio.Reader, dst []byte, n int64) ([]byte, error) {
	const chunk = 64 << 10
	for n > 0 {
		c := int(min(n, chunk))
		dst = grow(dst, c)
		m, err := io.ReadFull(br, dst[len(dst):len(dst)+c])
		dst = dst[:len(dst)+m]
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return dst, err
		}
		n -= int64(c)
	}
	cr, err := br.ReadByte()
	if err == nil {
		var lf byte
		if lf, err = br.ReadByte(); err == nil && (cr != '\r' || lf != '\n') {
			return dst, protoErr("bulk string not followed by CRLF")
		}
	}
	if err != nil {
		return dst, eofIsUnexpected(err)
	}
	return dst, nil
}

func grow(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	nb := make([]byte, len(b), max(2*cap(b), len(b)+n))
	copy(nb, b)
	return nb
}

// parseInt parses a decimal int64 with an optional '-', nothing else.
func parseInt(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	neg := b[0] == '-'
	if neg {
		b = b[1:]
		if len(b) == 0 {
			return 0, false
		}
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
		if n > 1<<63 {
			return 0, false
		}
	}
	if neg {
		return -int64(n), true
	}
	if n > 1<<63-1 {
		return 0, false
	}
	return int64(n), true
}

func trunc(b []byte) string {
	if len(b) > 64 {
		return string(b[:64]) + "..."
	}
	return string(b)
}

// AppendCommand appends args as a RESP multibulk command to dst.
func AppendCommand(dst []byte, args ...[]byte) []byte {
	dst = append(dst, '*')
	dst = strconv.AppendInt(dst, int64(len(args)), 10)
	dst = append(dst, '\r', '\n')
	for _, a := range args {
		dst = append(dst, '$')
		dst = strconv.AppendInt(dst, int64(len(a)), 10)
		dst = append(dst, '\r', '\n')
		dst = append(dst, a...)
		dst = append(dst, '\r', '\n')
	}
	return dst
}

// AppendCommandString is AppendCommand for string arguments.
func AppendCommandString(dst []byte, args ...string) []byte {
	dst = append(dst, '*')
	dst = strconv.AppendInt(dst, int64(len(args)), 10)
	dst = append(dst, '\r', '\n')
	for _, a := range args {
		dst = append(dst, '$')
		dst = strconv.AppendInt(dst, int64(len(a)), 10)
		dst = append(dst, '\r', '\n')
		dst = append(dst, a...)
		dst = append(dst, '\r', '\n')
	}
	return dst
}
