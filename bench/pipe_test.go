package bench

import (
	"bufio"
	"fmt"
	"net"
	"strconv"
	"sync/atomic"
	"time"
)

// pipe is a pipelined RESP client: one goroutine writes, another reads and
// counts replies, so the server never waits for us (the raw-ingest baseline
// and the fast fill).
type pipe struct {
	nc      net.Conn
	w       *bufio.Writer
	sent    atomic.Int64
	replies atomic.Int64
	errs    atomic.Int64
	lastErr atomic.Value
	done    chan error
}

func dialPipe(addr string) (*pipe, error) {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("bench: connect to %s: %w", addr, err)
	}
	p := &pipe{nc: nc, w: bufio.NewWriterSize(nc, 1<<20), done: make(chan error, 1)}
	go p.readLoop()
	return p, nil
}

// send queues one encoded command.
func (p *pipe) send(cmd []byte) error {
	p.sent.Add(1)
	_, err := p.w.Write(cmd)
	return err
}

func (p *pipe) flush() error { return p.w.Flush() }

// wait flushes and waits until every sent command has its reply.
func (p *pipe) wait(timeout time.Duration) error {
	if err := p.flush(); err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	for p.replies.Load() < p.sent.Load() {
		select {
		case err := <-p.done:
			return fmt.Errorf("bench: reply reader stopped after %d of %d replies: %w", p.replies.Load(), p.sent.Load(), err)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("bench: %d of %d replies after %s", p.replies.Load(), p.sent.Load(), timeout)
		}
		time.Sleep(200 * time.Microsecond)
	}
	return nil
}

func (p *pipe) close() { _ = p.nc.Close() }

func (p *pipe) readLoop() {
	br := bufio.NewReaderSize(p.nc, 1<<20)
	for {
		isErr, err := skipReply(br)
		if err != nil {
			p.done <- err
			return
		}
		if isErr {
			p.errs.Add(1)
		}
		p.replies.Add(1)
	}
}

// skipReply reads one RESP2 reply and reports whether it was an error.
func skipReply(br *bufio.Reader) (bool, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return false, err
	}
	if len(line) < 3 {
		return false, fmt.Errorf("bench: short reply line %q", line)
	}
	body := line[1 : len(line)-2]
	switch line[0] {
	case '+', ':':
		return false, nil
	case '-':
		return true, nil
	case '$':
		n, _ := strconv.Atoi(string(body))
		if n >= 0 {
			_, err = br.Discard(n + 2)
		}
		return false, err
	case '*':
		n, _ := strconv.Atoi(string(body))
		for i := 0; i < n; i++ {
			if _, err := skipReply(br); err != nil {
				return false, err
			}
		}
		return false, nil
	}
	return false, fmt.Errorf("bench: unknown reply %q", line)
}
