package sink

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// RESP2 reply type bytes.
const (
	respStatus  = '+' // +OK\r\n
	respError   = '-' // -ERR message\r\n
	respInteger = ':' // :42\r\n
	respBulk    = '$' // $3\r\nfoo\r\n, $-1\r\n is nil
	respArray   = '*' // *2\r\n<reply><reply>, *-1\r\n is nil
)

const (
	maxLineLen  = 64 << 10  // a status, error or length line longer than this is a protocol error
	maxBulkLen  = 512 << 20 // the largest bulk string Redis can send
	maxArrayLen = 1 << 31
	maxDepth    = 16
)

// errProtocol marks a reply the reader could not parse; the connection is
// then unusable and must be closed.
var errProtocol = errors.New("sink: protocol error")

// appendLen writes a RESP length line (*n or $n); commands are encoded with
// protocol.AppendCommand.
func appendLen(dst []byte, prefix byte, n int) []byte {
	dst = append(dst, prefix)
	dst = strconv.AppendInt(dst, int64(n), 10)
	return append(dst, '\r', '\n')
}

// reply is one decoded top-level reply, with nested contents skipped. For
// arrays, Errs holds the error messages of the direct elements by index
// (EXEC's array reports each command's runtime error there).
type reply struct {
	Type byte
	Line []byte // status or error text, integer digits; for bulk: the payload (valid until the next read)
	Nil  bool
	N    int            // array length
	Errs map[int]string // array elements that are errors
}

func (r reply) isError() bool { return r.Type == respError }

// replyReader reads RESP2 replies from a bufio.Reader, reusing one buffer.
type replyReader struct {
	br  *bufio.Reader
	buf []byte
}

func (rr *replyReader) readLine() ([]byte, error) {
	line, err := rr.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		rr.buf = append(rr.buf[:0], line...)
		for err == bufio.ErrBufferFull {
			if len(rr.buf) > maxLineLen {
				return nil, fmt.Errorf("%w: line longer than %d bytes", errProtocol, maxLineLen)
			}
			line, err = rr.br.ReadSlice('\n')
			rr.buf = append(rr.buf, line...)
		}
		line = rr.buf
	}
	if len(line) > maxLineLen {
		return nil, fmt.Errorf("%w: line longer than %d bytes", errProtocol, maxLineLen)
	}
	if err != nil {
		return nil, err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return nil, fmt.Errorf("%w: line %q does not end in CRLF", errProtocol, line)
	}
	return line[:len(line)-2], nil
}

// parseLen parses a RESP length: -1 or decimal digits without sign or
// leading zeros, at most limit.
func parseLen(b []byte, limit int) (int, error) {
	if string(b) == "-1" {
		return -1, nil
	}
	n, ok := parseDigits(b)
	if !ok || n > limit {
		return 0, fmt.Errorf("%w: bad length %q", errProtocol, b)
	}
	return n, nil
}

func parseDigits(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 18 || len(b) > 1 && b[0] == '0' {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// read reads one reply. Nested arrays are read and dropped; only the direct
// error elements of a top-level array are kept.
func (rr *replyReader) read() (reply, error) {
	return rr.readDepth(0)
}

func (rr *replyReader) readDepth(depth int) (reply, error) {
	if depth > maxDepth {
		return reply{}, fmt.Errorf("%w: nested deeper than %d", errProtocol, maxDepth)
	}
	line, err := rr.readLine()
	if err != nil {
		return reply{}, err
	}
	r := reply{Type: line[0], Line: line[1:]}
	switch r.Type {
	case respStatus, respError:
		return r, nil
	case respInteger:
		if _, err := strconv.ParseInt(string(r.Line), 10, 64); err != nil {
			return reply{}, fmt.Errorf("%w: bad integer %q", errProtocol, r.Line)
		}
		return r, nil
	case respBulk:
		n, err := parseLen(r.Line, maxBulkLen)
		if err != nil {
			return reply{}, err
		}
		if n < 0 {
			r.Nil, r.Line = true, nil
			return r, nil
		}
		if cap(rr.buf) < n+2 {
			rr.buf = make([]byte, n+2)
		}
		rr.buf = rr.buf[:n+2]
		if _, err := io.ReadFull(rr.br, rr.buf); err != nil {
			return reply{}, err
		}
		if rr.buf[n] != '\r' || rr.buf[n+1] != '\n' {
			return reply{}, fmt.Errorf("%w: bulk string not followed by CRLF", errProtocol)
		}
		r.Line = rr.buf[:n]
		return r, nil
	case respArray:
		n, err := parseLen(r.Line, maxArrayLen)
		if err != nil {
			return reply{}, err
		}
		r.Line = nil
		if n < 0 {
			r.Nil = true
			return r, nil
		}
		r.N = n
		for i := 0; i < n; i++ {
			e, err := rr.readDepth(depth + 1)
			if err != nil {
				return reply{}, err
			}
			if depth == 0 && e.Type == respError {
				if r.Errs == nil {
					r.Errs = map[int]string{}
				}
				r.Errs[i] = string(e.Line)
			}
		}
		return r, nil
	default:
		return reply{}, fmt.Errorf("%w: unknown reply type %q", errProtocol, line[0])
	}
}
