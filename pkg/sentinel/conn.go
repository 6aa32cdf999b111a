package sentinel

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// ErrAuth: a sentinel refused the credentials, or wants some and got none.
var ErrAuth = errors.New("the sentinel refused the credentials")

// conn is one RESP2 connection to a sentinel.
type conn struct {
	nc      net.Conn
	br      *bufio.Reader
	timeout time.Duration
}

// dial connects to one sentinel and authenticates.
func dial(ctx context.Context, cfg Config, addr string) (*conn, error) {
	d := &net.Dialer{Timeout: cfg.dialTimeout()}
	var nc net.Conn
	var err error
	if cfg.TLS != nil {
		// tls.Dialer checks the certificate against the host dialled when
		// ServerName is empty: each sentinel has its own name.
		nc, err = (&tls.Dialer{NetDialer: d, Config: cfg.TLS}).DialContext(ctx, "tcp", addr)
	} else {
		nc, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, fmt.Errorf("connecting to the sentinel %s: %w", addr, err)
	}
	c := &conn{nc: nc, br: bufio.NewReaderSize(nc, 4096), timeout: cfg.ioTimeout()}
	if cfg.Password != "" {
		args := []string{"AUTH", cfg.Password}
		if cfg.Username != "" {
			args = []string{"AUTH", cfg.Username, cfg.Password}
		}
		if _, err := c.do(ctx, args...); err != nil {
			c.close()
			var se serverError
			if errors.As(err, &se) {
				return nil, fmt.Errorf("sentinel %s: %w (%s): check sentinel-user and sentinel-password", addr, ErrAuth, se)
			}
			return nil, fmt.Errorf("sentinel %s: AUTH: %w", addr, err)
		}
	}
	return c, nil
}

// do sends one command and reads its reply, within the IO timeout and ctx.
func (c *conn) do(ctx context.Context, args ...string) (reply, error) {
	stop := context.AfterFunc(ctx, func() { _ = c.nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	_ = c.nc.SetDeadline(time.Now().Add(c.timeout))
	if _, err := c.nc.Write(appendCommand(nil, args...)); err != nil {
		return reply{}, err
	}
	r, err := readReply(c.br)
	var se serverError
	if errors.As(err, &se) && (se.hasPrefix("NOAUTH") || se.hasPrefix("WRONGPASS")) {
		return r, fmt.Errorf("%w (%s): give sentinel-password (and sentinel-user)", ErrAuth, strings.TrimSpace(string(se)))
	}
	return r, err
}

func (c *conn) close() { _ = c.nc.Close() }
