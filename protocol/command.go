package protocol

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// Command is one command of the replication stream.
type Command struct {
	Args [][]byte // the arguments, Args[0] the command name as sent
	Raw  []byte   // the exact wire bytes: the replication offset grows by len(Raw)
}

// CommandReader reads multibulk commands (*<n>\r\n then n $<len>\r\n<bytes>\r\n)
// from a bufio.Reader. Anything else is an error wrapping ErrProtocol.
//
// It does not use redcon's Reader: that one owns its own bufio.Reader (so it
// would take bytes that belong to no command yet away from the link), accepts
// inline commands, copies every command, and grows its buffer to whatever
// length the peer announces.
type CommandReader struct {
	br   *bufio.Reader
	lim  Limits
	raw  []byte
	args [][]byte
	offs []int
	line []byte
	n    int64 // bytes of complete commands read so far
}

// NewCommandReader returns a CommandReader over br (zero limits: defaults).
// Only MaxLine, MaxBulk and MaxArray apply.
func NewCommandReader(br *bufio.Reader, lim Limits) *CommandReader {
	if lim.MaxArray <= 0 {
		// A client may send a command with up to INT_MAX arguments, and the
		// master propagates it as is. Memory grows only with the bytes that
		// arrive, so this is no risk.
		lim.MaxArray = 1<<31 - 1
	}
	return &CommandReader{br: br, lim: lim.withDefaults()}
}

// Consumed returns the number of bytes of the complete commands read so far.
func (c *CommandReader) Consumed() int64 { return c.n }

// ReadCommand reads the next command. The Command's slices are valid until the
// next call. At a clean end of input between commands it returns io.EOF; a
// command cut short gives io.ErrUnexpectedEOF. After any error the reader is
// not aligned with the stream any more.
func (c *CommandReader) ReadCommand() (Command, error) {
	c.raw = c.raw[:0]
	c.offs = c.offs[:0]
	line, err := readLine(c.br, &c.line, c.lim.MaxLine)
	if err != nil {
		return Command{}, err
	}
	if len(line) == 0 || line[0] != '*' {
		return Command{}, protoErr("expected a multibulk command ('*'), got %q", trunc(line))
	}
	n, ok := parseInt(line[1:])
	if !ok || n < 1 {
		return Command{}, protoErr("bad multibulk length %q", trunc(line))
	}
	if n > c.lim.MaxArray {
		return Command{}, protoErr("multibulk length %d over the limit %d", n, c.lim.MaxArray)
	}
	c.raw = append(c.raw, line...)
	c.raw = append(c.raw, '\r', '\n')
	for i := int64(0); i < n; i++ {
		line, err := readLine(c.br, &c.line, c.lim.MaxLine)
		if err != nil {
			return Command{}, eofIsUnexpected(err)
		}
		if len(line) == 0 || line[0] != '$' {
			return Command{}, protoErr("argument %d: expected a bulk string ('$'), got %q", i, trunc(line))
		}
		size, ok := parseInt(line[1:])
		if !ok || size < 0 {
			return Command{}, protoErr("argument %d: bad bulk length %q", i, trunc(line))
		}
		if size > c.lim.MaxBulk {
			return Command{}, protoErr("argument %d: bulk length %d over the limit %d", i, size, c.lim.MaxBulk)
		}
		c.raw = append(c.raw, line...)
		c.raw = append(c.raw, '\r', '\n')
		start := len(c.raw)
		if c.raw, err = readBulk(c.br, c.raw, size); err != nil {
			return Command{}, eofIsUnexpected(err)
		}
		c.raw = append(c.raw, '\r', '\n')
		c.offs = append(c.offs, start, len(c.raw)-2)
	}
	c.args = c.args[:0]
	for i := 0; i < len(c.offs); i += 2 {
		c.args = append(c.args, c.raw[c.offs[i]:c.offs[i+1]:c.offs[i+1]])
	}
	c.n += int64(len(c.raw))
	return Command{Args: c.args, Raw: c.raw}, nil
}

func eofIsUnexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// String renders a command for logs, arguments shortened.
func (c Command) String() string {
	s := ""
	for i, a := range c.Args {
		if i > 0 {
			s += " "
		}
		if i >= 8 {
			s += fmt.Sprintf("... (%d args)", len(c.Args))
			break
		}
		s += fmt.Sprintf("%q", trunc(a))
	}
	return s
}
