package sink

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/redferry/redferry/protocol"
)

// conn is one RESP2 connection to the target.
type conn struct {
	nc        net.Conn
	w         *bufio.Writer
	rr        replyReader
	ioTimeout time.Duration
	scratch   []byte
}

func dial(ctx context.Context, cfg *Config) (*conn, error) {
	addr, err := cfg.addr(ctx)
	if err != nil {
		return nil, err
	}
	d := net.Dialer{Timeout: cfg.DialTimeout}
	var nc net.Conn
	if cfg.TLS != nil {
		td := tls.Dialer{NetDialer: &d, Config: cfg.TLS}
		nc, err = td.DialContext(ctx, "tcp", addr)
	} else {
		nc, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, fmt.Errorf("sink: connect to %s: %w", addr, err)
	}
	c := &conn{nc: nc, w: bufio.NewWriterSize(nc, 64<<10), ioTimeout: cfg.IOTimeout}
	c.rr.br = bufio.NewReaderSize(nc, 64<<10)
	if cfg.Password != "" {
		args := []string{"AUTH", cfg.Password}
		if cfg.Username != "" {
			args = []string{"AUTH", cfg.Username, cfg.Password}
		}
		r, err := c.do(args...)
		if err != nil {
			c.close()
			return nil, fmt.Errorf("sink: AUTH on %s: %w", cfg.Addr, err)
		}
		if r.isError() {
			c.close()
			return nil, fmt.Errorf("sink: %s: %w: %s", cfg.Addr, ErrAuth, r.Line)
		}
	}
	return c, nil
}

func (c *conn) close() error { return c.nc.Close() }

// readDeadline gives the next network read IOTimeout. A reply already in
// the read buffer needs no network read, so the deadline is left as it is
// then: SetDeadline (a clock read and a timer update) before each of a
// batch's thousands of buffered replies cost a fifth of the sink's CPU.
func (c *conn) readDeadline() {
	if c.ioTimeout > 0 && c.rr.br.Buffered() == 0 {
		_ = c.nc.SetReadDeadline(time.Now().Add(c.ioTimeout))
	}
}

// writeDeadline gives the next write IOTimeout. Read and write deadlines are
// separate so that a Window can read a batch's replies while it writes the
// next batch.
func (c *conn) writeDeadline() {
	if c.ioTimeout > 0 {
		_ = c.nc.SetWriteDeadline(time.Now().Add(c.ioTimeout))
	}
}

// do sends one command and reads its reply (control plane: AUTH, INFO, GET).
func (c *conn) do(args ...string) (reply, error) {
	c.scratch = protocol.AppendCommandString(c.scratch[:0], args...)
	c.writeDeadline()
	if _, err := c.w.Write(c.scratch); err != nil {
		return reply{}, err
	}
	if err := c.w.Flush(); err != nil {
		return reply{}, err
	}
	c.readDeadline()
	return c.rr.read()
}

// checkNoAuth turns a NOAUTH reply into a clear error.
func checkNoAuth(r reply, addr string) error {
	if r.isError() && (strings.HasPrefix(string(r.Line), "NOAUTH") || strings.HasPrefix(string(r.Line), "WRONGPASS")) {
		return fmt.Errorf("sink: %s: %w: %s", addr, ErrAuth, r.Line)
	}
	return nil
}

// retryable reports whether err is a lost connection or timeout (as opposed
// to a refusal such as bad credentials).
func retryable(err error) bool {
	if err == nil || errors.Is(err, ErrAuth) || errors.Is(err, ErrTargetMoved) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	return true
}
