package sink

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redferry/redferry/pkg/server"
)

// readKey GETs key from db 0 of the node serving it, following MOVED and
// ASK; nil when it does not exist.
func (c *Cluster) readKey(ctx context.Context, key string) ([]byte, error) {
	return c.keyCommand(ctx, 0, key, "GET", key)
}

// setKey SETs key in db 0 of the node serving it, following MOVED and ASK.
func (c *Cluster) setKey(ctx context.Context, key string, v []byte) error {
	_, err := c.keyCommand(ctx, 0, key, "SET", key, string(v))
	return err
}

// keyCommand runs one command on key in db on the node serving it: a bulk
// or integer reply's bytes, nil for a nil reply.
func (c *Cluster) keyCommand(ctx context.Context, db int, key string, args ...string) ([]byte, error) {
	addr := c.topo.masters[c.topo.ownerOf(server.KeySlot(key))]
	asking := false
	for range 5 {
		v, rd, err := c.node(addr).doKey(ctx, asking, db, args...)
		if err != nil {
			return nil, err
		}
		if rd.kind == "" {
			return v, nil
		}
		if rd.addr == "" {
			return nil, fmt.Errorf("sink: %s %s: %s", args[0], key, rd.kind)
		}
		addr, asking = rd.addr, rd.kind == "ASK"
	}
	return nil, fmt.Errorf("sink: %s %s: redirected too many times", args[0], key)
}

// doKey runs a command in db of this node, after ASKING when asking; a
// redirection comes back as rd.
func (s *Standalone) doKey(ctx context.Context, asking bool, db int, args ...string) (v []byte, rd redirect, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		if s.conn, err = dial(ctx, &s.cfg); err != nil {
			return nil, rd, err
		}
	}
	defer func() {
		if err != nil {
			s.dropConn()
		}
	}()
	// The connection itself, not s.conn: the callback may run after an
	// error has dropped it (s.conn nil).
	cn := s.conn
	stop := context.AfterFunc(ctx, func() { _ = cn.nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if r, err := s.conn.do("SELECT", strconv.Itoa(db)); err != nil || r.isError() {
		return nil, rd, errors.Join(err, replyErr(r))
	}
	if asking {
		if _, err := s.conn.do("ASKING"); err != nil {
			return nil, rd, err
		}
	}
	r, err := s.conn.do(args...)
	if err != nil {
		return nil, rd, err
	}
	switch {
	case r.isError():
		var ok bool
		if rd, ok = parseRedirect(string(r.Line)); !ok {
			err = fmt.Errorf("sink: %s on %s: %s", args[0], s.cfg.Addr, r.Line)
		}
	case !r.Nil:
		v = bytes.Clone(r.Line)
	}
	if db != 0 {
		// Back to db 0, where the cluster's transactions without SELECT run.
		if r0, err0 := s.conn.do("SELECT", "0"); err0 != nil || r0.isError() {
			return nil, rd, errors.Join(err0, replyErr(r0))
		}
	}
	return v, rd, err
}

func replyErr(r reply) error {
	if r.isError() {
		return errors.New(string(r.Line))
	}
	return nil
}
