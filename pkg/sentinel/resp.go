package sentinel

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// A sentinel's replies are small: a few strings, an array of field names
// and values. This minimal RESP2 reader is enough for them (package protocol
// cannot be used here: it depends on package server, which depends on this).

// reply is one RESP2 reply.
type reply struct {
	kind  byte // '+', '-', ':', '$', '*'
	null  bool
	str   string
	elems []reply
}

// serverError is an error reply, e.g. "NOAUTH Authentication required.".
type serverError string

func (e serverError) Error() string { return string(e) }

// hasPrefix reports whether the error code (its first word) is code.
func (e serverError) hasPrefix(code string) bool {
	first, _, _ := strings.Cut(string(e), " ")
	return first == code
}

const maxReplyLen = 1 << 20

// readReply reads one reply; an error reply is also returned as a serverError.
func readReply(br *bufio.Reader) (reply, error) {
	r, err := readNode(br, 0)
	if err == nil && r.kind == '-' {
		return r, serverError(r.str)
	}
	return r, err
}

func readNode(br *bufio.Reader, depth int) (reply, error) {
	if depth > 8 {
		return reply{}, errors.New("sentinel: reply nested too deep")
	}
	line, err := br.ReadString('\n')
	if err != nil {
		if errors.Is(err, io.EOF) && line != "" {
			err = io.ErrUnexpectedEOF
		}
		return reply{}, err
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return reply{}, errors.New("sentinel: empty reply line")
	}
	r := reply{kind: line[0], str: line[1:]}
	switch r.kind {
	case '+', '-', ':':
		return r, nil
	case '$', '*':
		n, err := strconv.Atoi(r.str)
		if err != nil || n < -1 || n > maxReplyLen {
			return reply{}, fmt.Errorf("sentinel: bad length in reply %q", line)
		}
		r.str = ""
		if n == -1 {
			r.null = true
			return r, nil
		}
		if r.kind == '$' {
			b := make([]byte, n+2)
			if _, err := io.ReadFull(br, b); err != nil {
				return reply{}, err
			}
			r.str = string(b[:n])
			return r, nil
		}
		for range n {
			e, err := readNode(br, depth+1)
			if err != nil {
				return reply{}, err
			}
			r.elems = append(r.elems, e)
		}
		return r, nil
	}
	return reply{}, fmt.Errorf("sentinel: unexpected reply %q", line)
}

// appendCommand encodes a command as a RESP2 array of bulk strings.
func appendCommand(dst []byte, args ...string) []byte {
	dst = append(dst, '*')
	dst = strconv.AppendInt(dst, int64(len(args)), 10)
	dst = append(dst, "\r\n"...)
	for _, a := range args {
		dst = append(dst, '$')
		dst = strconv.AppendInt(dst, int64(len(a)), 10)
		dst = append(dst, "\r\n"...)
		dst = append(dst, a...)
		dst = append(dst, "\r\n"...)
	}
	return dst
}

// texts is the strings of an array reply (nil for any other reply).
func texts(r reply) []string {
	if r.kind != '*' {
		return nil
	}
	out := make([]string, len(r.elems))
	for i, e := range r.elems {
		out[i] = e.str
	}
	return out
}
