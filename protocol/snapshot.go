package protocol

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// eofMarkLen is the length of the diskless end mark: $EOF:<40 bytes>\r\n.
const eofMarkLen = 40

// maxHeaderLine bounds the snapshot's header line ($<len> or $EOF:<mark>).
const maxHeaderLine = 64

// skipKeepAlives consumes the bare "\n" (and "\r\n") a master sends while it
// prepares a reply or a snapshot.
func skipKeepAlives(br *bufio.Reader) error {
	for {
		b, err := br.Peek(1)
		if err != nil {
			return err
		}
		switch b[0] {
		case '\n':
			_, _ = br.Discard(1)
		case '\r':
			b, err := br.Peek(2)
			if err != nil {
				return err
			}
			if b[1] != '\n' {
				return nil
			}
			_, _ = br.Discard(2)
		default:
			return nil
		}
	}
}

// readSnapshot copies the snapshot that follows +FULLRESYNC from br into w:
// "$<len>\r\n" and len bytes, or "$EOF:<mark>\r\n", the bytes, and the mark
// again (not copied). It consumes no byte after the snapshot. progress, when
// not nil, gets the number of bytes copied so far after each chunk.
func readSnapshot(br *bufio.Reader, w io.Writer, progress func(int64)) (int64, error) {
	if err := skipKeepAlives(br); err != nil {
		return 0, fmt.Errorf("waiting for the snapshot header: %w", eofIsUnexpected(err))
	}
	var scratch []byte
	line, err := readLine(br, &scratch, maxHeaderLine)
	if err != nil {
		return 0, fmt.Errorf("reading the snapshot header: %w", eofIsUnexpected(err))
	}
	if len(line) > 0 && line[0] == '-' {
		return 0, fmt.Errorf("the source failed to send the snapshot: %w", ServerError(line[1:]))
	}
	if len(line) < 2 || line[0] != '$' {
		return 0, protoErr("snapshot header %q: expected $<length> or $EOF:<mark>", trunc(line))
	}
	if bytes.HasPrefix(line, []byte("$EOF:")) {
		mark := line[5:]
		if len(mark) != eofMarkLen {
			return 0, protoErr("snapshot header: EOF mark of %d bytes, want %d", len(mark), eofMarkLen)
		}
		return copyUntilMark(br, w, bytes.Clone(mark), progress)
	}
	n, err := strconv.ParseInt(string(line[1:]), 10, 64)
	if err != nil || n < 0 {
		return 0, protoErr("snapshot header %q: bad length", trunc(line))
	}
	return copyN(br, w, n, progress)
}

var errShortSnapshot = errors.New("the connection ended inside the snapshot")

func copyN(br *bufio.Reader, w io.Writer, n int64, progress func(int64)) (int64, error) {
	var done int64
	for done < n {
		if _, err := br.Peek(1); err != nil {
			return done, fmt.Errorf("%w after %d of %d bytes: %w", errShortSnapshot, done, n, eofIsUnexpected(err))
		}
		chunk, _ := br.Peek(int(min(int64(br.Buffered()), n-done)))
		if _, err := w.Write(chunk); err != nil {
			return done, fmt.Errorf("writing the snapshot: %w", err)
		}
		_, _ = br.Discard(len(chunk))
		done += int64(len(chunk))
		if progress != nil {
			progress(done)
		}
	}
	return done, nil
}

// copyUntilMark copies up to the first occurrence of mark and consumes the
// mark. The last len(mark)-1 bytes seen are held back (they may be the start
// of the mark) until more bytes show they are not.
func copyUntilMark(br *bufio.Reader, w io.Writer, mark []byte, progress func(int64)) (int64, error) {
	keep := len(mark) - 1
	carry := make([]byte, 0, keep)
	edge := make([]byte, 0, 2*keep)
	var done int64
	write := func(b []byte) error {
		if len(b) == 0 {
			return nil
		}
		if _, err := w.Write(b); err != nil {
			return fmt.Errorf("writing the snapshot: %w", err)
		}
		done += int64(len(b))
		return nil
	}
	for {
		if _, err := br.Peek(1); err != nil {
			return done, fmt.Errorf("%w after %d bytes, before its end mark: %w", errShortSnapshot, done+int64(len(carry)), eofIsUnexpected(err))
		}
		chunk, _ := br.Peek(br.Buffered())
		// A mark that starts in carry and ends in chunk.
		edge = append(append(edge[:0], carry...), chunk[:min(keep, len(chunk))]...)
		if i := bytes.Index(edge, mark); i >= 0 {
			if err := write(carry[:i]); err != nil {
				return done, err
			}
			_, _ = br.Discard(i + len(mark) - len(carry))
			if progress != nil {
				progress(done)
			}
			return done, nil
		}
		// A mark inside chunk.
		if i := bytes.Index(chunk, mark); i >= 0 {
			if err := write(carry); err != nil {
				return done, err
			}
			if err := write(chunk[:i]); err != nil {
				return done, err
			}
			_, _ = br.Discard(i + len(mark))
			if progress != nil {
				progress(done)
			}
			return done, nil
		}
		// No mark yet: write all but the last keep bytes.
		if len(chunk) >= keep {
			if err := write(carry); err != nil {
				return done, err
			}
			if err := write(chunk[:len(chunk)-keep]); err != nil {
				return done, err
			}
			carry = append(carry[:0], chunk[len(chunk)-keep:]...)
		} else {
			// edge is carry+chunk here; keep its tail.
			cut := max(0, len(edge)-keep)
			if err := write(edge[:cut]); err != nil {
				return done, err
			}
			carry = append(carry[:0], edge[cut:]...)
		}
		_, _ = br.Discard(len(chunk))
		if progress != nil {
			progress(done)
		}
	}
}
