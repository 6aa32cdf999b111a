package protocol

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redferry/redferry/pkg/retry"
	"github.com/redferry/redferry/pkg/server"

	"go.uber.org/zap"
)

// Sentinel errors of the replication link; the errors returned wrap them with
// the address and the step, and wrap the server's ServerError too.
var (
	// ErrSyncRefused: the source answers the replication handshake (REPLCONF,
	// PSYNC) with an error other than a transient one.
	ErrSyncRefused = errors.New("the source refuses replication (PSYNC): managed services often disable it; " +
		"check that the user may run PSYNC and REPLCONF (ACL: +psync +replconf, or +@admin), " +
		"or migrate from a self-managed replica of the source")
	// ErrAuth: the source rejects the credentials, or wants some and got none.
	ErrAuth = errors.New("authentication to the source failed: check the password and, with ACLs, the user name " +
		"(and that the user is enabled)")
)

// Defaults for zero LinkConfig durations.
const (
	DefaultDialTimeout = 10 * time.Second
	// DefaultReadTimeout: a master pings its replicas every 10 s and sends a
	// keep-alive newline each second while it prepares a snapshot.
	DefaultReadTimeout = 60 * time.Second
)

// LinkConfig configures a replication link.
type LinkConfig struct {
	Addr     string // host:port of the source
	Username string // ACL user (Redis 6+); empty: AUTH with the password only
	Password string // empty: no AUTH. Never logged.
	TLS      *tls.Config
	// ListeningPort is sent as REPLCONF listening-port; the master shows it in
	// INFO replication and ROLE. 0: the link's local TCP port, which tells
	// this connection apart and on which nothing listens.
	ListeningPort int
	// PSyncCommand is the name the handshake sends instead of PSYNC, for a
	// source that renamed it (rename-command, as some managed services do);
	// "": PSYNC.
	PSyncCommand string
	// DialTimeout bounds the TCP (and TLS) connect: 0 means DefaultDialTimeout.
	DialTimeout time.Duration
	// ReadTimeout bounds each read and write on the socket: 0 means
	// DefaultReadTimeout, < 0 none.
	ReadTimeout time.Duration
	// Limits bound the replies of the handshake and the commands of the
	// stream (raise MaxBulk for a source with a larger proto-max-bulk-len).
	// Zero fields: defaults.
	Limits Limits
	Logger *zap.Logger // nil: no logs
}

// Resync is the source's answer to PSYNC.
type Resync struct {
	// Full: +FULLRESYNC; a snapshot follows (Link.ReadSnapshot), then the stream.
	// Otherwise +CONTINUE: the stream follows at once.
	Full bool
	// ReplID: the replication id to continue from next time. After +CONTINUE
	// it is the new one the source sent, or the one requested.
	ReplID string
	// Offset is the replication offset the stream starts after: the one of
	// +FULLRESYNC, or the requested offset - 1 after +CONTINUE. The offset of
	// the source after a command is Offset plus the len(Raw) of every command
	// read up to and including it.
	Offset int64
	// SyncStyle: the source answered the (renamed) PSYNC as it answers SYNC:
	// a full sync whose replication id and offset come from the snapshot;
	// it will never continue a stream, so every reconnection takes a new
	// full sync.
	SyncStyle bool
}

type linkState int

const (
	stateNew linkState = iota
	stateSnapshot
	stateStream
	stateBroken
)

// Link is a replica-side connection to a source. Use it from one goroutine,
// except SendAck, Close and RemoteAddr, which are safe from any. After an
// error from PSync, ReadSnapshot or ReadCommand the link is unusable: close
// it and dial again.
//
// The link never acknowledges on its own: the caller sends REPLCONF ACK
// (SendAck) with the offset it has made durable, at least once a second
// (the master drops a replica silent for repl-timeout, and a diskless master
// holds the stream back until the first ACK), and answers REPLCONF GETACK,
// which arrives as an ordinary Command.
type Link struct {
	cfg  LinkConfig
	log  *zap.Logger
	addr string

	conn  net.Conn     // nil when built on recorded bytes
	guard *guardReader // sets deadlines before each read, cancels on ctx
	w     io.Writer
	br    *bufio.Reader
	rr    *Reader
	cr    *CommandReader

	state  linkState
	resync Resync
	base   int64 // offset before the stream's first byte

	wmu  sync.Mutex
	wbuf []byte
	num  []byte

	closeOnce sync.Once
	closeErr  error

	sleep func(context.Context, time.Duration) error
}

const linkBufSize = 64 << 10

// Dial connects to cfg.Addr (with TLS when cfg.TLS is set). The handshake
// happens in PSync.
func Dial(ctx context.Context, cfg LinkConfig) (*Link, error) {
	if cfg.Addr == "" {
		return nil, errors.New("protocol: LinkConfig.Addr is empty")
	}
	if cfg.Username != "" && cfg.Password == "" {
		return nil, fmt.Errorf("protocol: LinkConfig.Username %q is set without a Password", cfg.Username)
	}
	timeout := cfg.DialTimeout
	if timeout <= 0 {
		timeout = DefaultDialTimeout
	}
	nd := &net.Dialer{Timeout: timeout}
	var conn net.Conn
	var err error
	if cfg.TLS != nil {
		tc := cfg.TLS.Clone()
		if tc.ServerName == "" && !tc.InsecureSkipVerify {
			if host, _, err := net.SplitHostPort(cfg.Addr); err == nil {
				tc.ServerName = host
			}
		}
		conn, err = (&tls.Dialer{NetDialer: nd, Config: tc}).DialContext(ctx, "tcp", cfg.Addr)
	} else {
		conn, err = nd.DialContext(ctx, "tcp", cfg.Addr)
	}
	if err != nil {
		return nil, fmt.Errorf("protocol: connect to %s: %w", cfg.Addr, err)
	}
	return newConnLink(cfg, conn, conn), nil
}

// newConnLink builds a link on a connection; r reads from it (tests record
// through it).
func newConnLink(cfg LinkConfig, conn net.Conn, r io.Reader) *Link {
	l := newLink(cfg, r, conn)
	l.conn = conn
	l.guard.conn = conn
	return l
}

// newLink builds a link on any reader and writer; tests feed it recorded bytes.
func newLink(cfg LinkConfig, r io.Reader, w io.Writer) *Link {
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = DefaultReadTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	l := &Link{cfg: cfg, addr: cfg.Addr, w: w, sleep: sleepCtx}
	l.log = log.With(zap.String("stage", "link"), zap.String("source", cfg.Addr))
	l.guard = &guardReader{r: r, timeout: cfg.ReadTimeout}
	l.br = bufio.NewReaderSize(l.guard, linkBufSize)
	l.rr = NewReader(l.br, cfg.Limits)
	l.cr = NewCommandReader(l.br, cfg.Limits)
	return l
}

// RemoteAddr returns the source's address.
func (l *Link) RemoteAddr() string {
	if l.conn != nil {
		return l.conn.RemoteAddr().String()
	}
	return l.addr
}

// Close closes the connection; a blocked ReadCommand returns an error.
func (l *Link) Close() error {
	l.closeOnce.Do(func() {
		if c, ok := l.w.(io.Closer); ok {
			l.closeErr = c.Close()
		}
	})
	return l.closeErr
}

// PSync performs the handshake: AUTH (when a password is set), PING,
// REPLCONF listening-port, REPLCONF capa eof capa psync2, then PSYNC replid
// offset, where offset is the first byte wanted (the offset reached + 1);
// "?" and -1 ask for a full sync. While the source answers -LOADING,
// -NOMASTERLINK, -MASTERDOWN or "Can't SYNC while not connected with my
// master", it waits with backoff and tries again, until ctx ends.
func (l *Link) PSync(ctx context.Context, replid string, offset int64) (Resync, error) {
	if l.state != stateNew {
		return Resync{}, fmt.Errorf("protocol: %s: PSync called twice on one link", l.addr)
	}
	if replid == "" || strings.ContainsAny(replid, " \r\n") {
		return Resync{}, fmt.Errorf("protocol: %s: bad replication id %q", l.addr, replid)
	}
	defer l.watch(ctx)()
	l.state = stateBroken
	bo := retry.Backoff{Max: 5 * time.Second}
	var last ServerError // the source's last "not ready" answer
	for attempt := 1; ; attempt++ {
		res, err := l.handshake(replid, offset)
		if err == nil {
			l.resync = res
			l.base = res.Offset
			if res.Full {
				l.state = stateSnapshot
			} else {
				l.state = stateStream
			}
			l.log.Info("replication accepted", zap.Bool("full", res.Full), zap.String("replid", res.ReplID),
				zap.Int64("offset", res.Offset))
			return res, nil
		}
		if ctx.Err() != nil {
			if last != "" {
				return Resync{}, fmt.Errorf("protocol: %s: gave up waiting for the source (last answer %q): %w (%w)", l.addr, string(last), context.Cause(ctx), err)
			}
			return Resync{}, fmt.Errorf("protocol: %s: handshake: %w (%w)", l.addr, context.Cause(ctx), err)
		}
		var se ServerError
		if !errors.As(err, &se) || !transient(se) {
			return Resync{}, err
		}
		last = se
		wait := bo.Next()
		l.log.Warn("source not ready for replication; waiting", zap.String("reply", string(se)),
			zap.Int("attempt", attempt), zap.Duration("backoff", wait))
		if err := l.sleep(ctx, wait); err != nil {
			return Resync{}, fmt.Errorf("protocol: %s: gave up waiting for the source (last answer %q): %w", l.addr, string(se), err)
		}
	}
}

// transient: the source cannot serve a replica yet, but will.
func transient(e ServerError) bool {
	switch e.Prefix() {
	case "LOADING", "NOMASTERLINK", "MASTERDOWN", "TRYAGAIN":
		return true
	}
	return strings.Contains(string(e), "Can't SYNC while not connected with my master")
}

// authFailure: the reply means the credentials are wrong or missing.
func authFailure(e ServerError) bool {
	switch e.Prefix() {
	case "NOAUTH", "WRONGPASS":
		return true
	}
	s := string(e)
	return strings.HasPrefix(s, "ERR invalid password") || strings.HasPrefix(s, "ERR invalid username-password")
}

func (l *Link) handshake(replid string, offset int64) (Resync, error) {
	if l.cfg.Password != "" {
		args := []string{"AUTH", l.cfg.Password}
		if l.cfg.Username != "" {
			args = []string{"AUTH", l.cfg.Username, l.cfg.Password}
		}
		if err := l.call("AUTH", args...); err != nil {
			var se ServerError
			if errors.As(err, &se) && (strings.Contains(string(se), "without any password configured") ||
				strings.Contains(string(se), "no password is set")) {
				l.log.Warn("the source has no password; continuing without AUTH", zap.String("reply", string(se)))
			} else {
				return Resync{}, err
			}
		}
	}
	if err := l.call("PING", "PING"); err != nil {
		return Resync{}, err
	}
	port := l.cfg.ListeningPort
	if port == 0 && l.conn != nil {
		if a, ok := l.conn.LocalAddr().(*net.TCPAddr); ok {
			port = a.Port
		}
	}
	replconfs := [][]string{
		{"REPLCONF", "listening-port", strconv.Itoa(port)},
		{"REPLCONF", "capa", "eof", "capa", "psync2"},
	}
	// A Valkey primary writes the snapshot in the newest RDB format the
	// replica says it knows, else RDB 11 (which cannot hold Valkey 9's
	// hash field TTLs): claim its own version, since rdbparse reads them all.
	if v := l.valkeyVersion(); v != "" {
		replconfs = append(replconfs, []string{"REPLCONF", "version", v})
	}
	for _, args := range replconfs {
		if err := l.call("REPLCONF", args...); err != nil {
			var se ServerError
			if !errors.As(err, &se) || transient(se) || errors.Is(err, ErrAuth) || errors.Is(err, ErrSyncRefused) {
				return Resync{}, err
			}
			// As a Redis replica does: a master that does not know this
			// REPLCONF option may still serve PSYNC.
			l.log.Warn("the source rejects a REPLCONF option; continuing", zap.Strings("args", args),
				zap.String("reply", string(se)))
		}
	}
	if err := l.send(l.psyncCommand(), replid, strconv.FormatInt(offset, 10)); err != nil {
		return Resync{}, l.ioErr("PSYNC", err)
	}
	if err := skipKeepAlives(l.br); err != nil {
		return Resync{}, l.ioErr("PSYNC", err)
	}
	if b, err := l.br.Peek(1); err == nil && b[0] == '$' && l.cfg.PSyncCommand != "" {
		res, err := syncStyleResync(l.br)
		if err != nil {
			return Resync{}, fmt.Errorf("protocol: %s: %s answered like SYNC (a snapshot without +FULLRESYNC): %w", l.addr, l.cfg.PSyncCommand, err)
		}
		l.log.Warn("the source serves the renamed PSYNC as SYNC: it never continues a stream, so every reconnection takes a new full sync",
			zap.String("command", l.cfg.PSyncCommand))
		return res, nil
	}
	rep, err := l.rr.ReadReply()
	if err != nil {
		return Resync{}, l.replyErr("PSYNC", err)
	}
	res, err := parsePSyncReply(rep, replid, offset)
	if err != nil {
		return Resync{}, fmt.Errorf("protocol: %s: PSYNC: %w", l.addr, err)
	}
	return res, nil
}

// psyncCommand is the name of PSYNC on the source.
func (l *Link) psyncCommand() string {
	if l.cfg.PSyncCommand != "" {
		return l.cfg.PSyncCommand
	}
	return "PSYNC"
}

func parsePSyncReply(rep Reply, replid string, offset int64) (Resync, error) {
	if rep.Kind != KindSimple {
		return Resync{}, protoErr("PSYNC answered with a %s", rep.Kind)
	}
	f := strings.Fields(string(rep.Str))
	switch {
	case len(f) == 3 && f[0] == "FULLRESYNC":
		off, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil || off < 0 {
			return Resync{}, protoErr("bad offset in %q", trunc(rep.Str))
		}
		return Resync{Full: true, ReplID: f[1], Offset: off}, nil
	case len(f) >= 1 && len(f) <= 2 && f[0] == "CONTINUE":
		if replid == "?" || offset < 1 {
			return Resync{}, protoErr("%q to a request for a full sync", trunc(rep.Str))
		}
		res := Resync{ReplID: replid, Offset: offset - 1}
		if len(f) == 2 {
			res.ReplID = f[1]
		}
		return res, nil
	}
	return Resync{}, protoErr("unexpected PSYNC answer %q", trunc(rep.Str))
}

// call sends a command and reads a reply that must not be an error.
func (l *Link) call(step string, args ...string) error {
	if err := l.send(args...); err != nil {
		return l.ioErr(step, err)
	}
	if _, err := l.rr.ReadReply(); err != nil {
		return l.replyErr(step, err)
	}
	return nil
}

// valkeyVersion returns the source's valkey_version from INFO server, or ""
// for Redis or when INFO is not allowed (the handshake goes on without it).
func (l *Link) valkeyVersion() string {
	if err := l.send("INFO", "server"); err != nil {
		return ""
	}
	rep, err := l.rr.ReadReply()
	if err != nil || rep.Kind != KindBulk {
		return ""
	}
	info, err := server.Parse(string(rep.Str))
	if err != nil || !info.IsValkey() {
		return ""
	}
	return info.Version.String()
}

func (l *Link) ioErr(step string, err error) error {
	return fmt.Errorf("protocol: %s: %s: %w", l.addr, step, eofIsUnexpected(err))
}

// replyErr classifies an error reply of a handshake step.
func (l *Link) replyErr(step string, err error) error {
	var se ServerError
	if !errors.As(err, &se) {
		return l.ioErr(step, err)
	}
	switch {
	case se.Prefix() == "NOAUTH" && l.cfg.Password == "":
		return fmt.Errorf("protocol: %s: %s: %w: the source requires a password and none is configured; the source answered: %w", l.addr, step, ErrAuth, se)
	case authFailure(se):
		return fmt.Errorf("protocol: %s: %s: %w; the source answered: %w", l.addr, step, ErrAuth, se)
	case transient(se):
		return fmt.Errorf("protocol: %s: %s: %w", l.addr, step, se)
	case step == "PSYNC" && strings.HasPrefix(string(se), "ERR unknown command"):
		if l.cfg.PSyncCommand != "" {
			return fmt.Errorf("protocol: %s: %s: %w; the source does not know the command %q that source-psync-command names: "+
				"check the name the source's rename-command gives PSYNC; the source answered: %w", l.addr, step, ErrSyncRefused, l.cfg.PSyncCommand, se)
		}
		return fmt.Errorf("protocol: %s: %s: %w; the source does not know PSYNC: if it renamed the command (rename-command, "+
			"as some managed services do), set source-psync-command to the new name; the source answered: %w", l.addr, step, ErrSyncRefused, se)
	case step == "PSYNC" || step == "REPLCONF" && (se.Prefix() == "NOPERM" || strings.HasPrefix(string(se), "ERR unknown command")):
		return fmt.Errorf("protocol: %s: %s: %w; the source answered: %w", l.addr, step, ErrSyncRefused, se)
	}
	return fmt.Errorf("protocol: %s: %s: the source answered: %w", l.addr, step, se)
}

// AwaitSnapshot waits after +FULLRESYNC until the source starts sending the
// snapshot (it skips the keep-alive newlines before it) and reads nothing of
// the snapshot itself. An error says the link ended first, before a byte of
// the snapshot could be taken: a link kept idle since its +FULLRESYNC that
// the source dropped meanwhile (repl-timeout) costs nothing but a new one.
func (l *Link) AwaitSnapshot(ctx context.Context) error {
	if l.state != stateSnapshot {
		return fmt.Errorf("protocol: %s: AwaitSnapshot without a full resync pending", l.addr)
	}
	defer l.watch(ctx)()
	if err := skipKeepAlives(l.br); err != nil {
		l.state = stateBroken
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", context.Cause(ctx), err)
		}
		return fmt.Errorf("protocol: %s: the link ended before the source sent the snapshot: %w", l.addr, eofIsUnexpected(err))
	}
	return nil
}

// ReadSnapshot copies the snapshot that follows +FULLRESYNC into w, exactly
// its bytes (without framing or the diskless end mark), and returns its
// length. It skips the keep-alive newlines before it, and leaves the command
// stream after it unread. progress (may be nil) gets the bytes copied so far.
func (l *Link) ReadSnapshot(ctx context.Context, w io.Writer, progress func(int64)) (int64, error) {
	if l.state != stateSnapshot {
		return 0, fmt.Errorf("protocol: %s: ReadSnapshot without a full resync pending", l.addr)
	}
	defer l.watch(ctx)()
	l.state = stateBroken
	n, err := readSnapshot(l.br, w, progress)
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", context.Cause(ctx), err)
		}
		return n, fmt.Errorf("protocol: %s: snapshot: %w", l.addr, err)
	}
	l.state = stateStream
	l.log.Info("snapshot received", zap.Int64("bytes", n))
	return n, nil
}

// ReadCommand returns the next command of the stream; its slices are valid
// until the next call. Errors name the replication offset where the bad or
// cut-short command starts; a stream that ends between commands gives an
// error wrapping io.EOF.
func (l *Link) ReadCommand() (Command, error) {
	if l.state != stateStream {
		return Command{}, fmt.Errorf("protocol: %s: ReadCommand before the stream (PSync, ReadSnapshot) or after an error", l.addr)
	}
	cmd, err := l.cr.ReadCommand()
	if err != nil {
		l.state = stateBroken
		return Command{}, fmt.Errorf("protocol: %s: stream at offset %d: %w", l.addr, l.base+l.cr.Consumed(), err)
	}
	return cmd, nil
}

// Offset returns the replication offset after the last command read.
func (l *Link) Offset() int64 { return l.base + l.cr.Consumed() }

// SendAck sends REPLCONF ACK offset. Safe to call while ReadCommand runs.
func (l *Link) SendAck(offset int64) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.num = strconv.AppendInt(l.num[:0], offset, 10)
	l.wbuf = AppendCommand(l.wbuf[:0], []byte("REPLCONF"), []byte("ACK"), l.num)
	if err := l.writeLocked(l.wbuf); err != nil {
		return fmt.Errorf("protocol: %s: REPLCONF ACK %d: %w", l.addr, offset, err)
	}
	return nil
}

func (l *Link) send(args ...string) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.wbuf = AppendCommandString(l.wbuf[:0], args...)
	err := l.writeLocked(l.wbuf)
	if len(args) > 0 && args[0] == "AUTH" {
		clear(l.wbuf) // do not keep the password around
	}
	return err
}

func (l *Link) writeLocked(b []byte) error {
	if l.conn != nil && l.cfg.ReadTimeout > 0 {
		_ = l.conn.SetWriteDeadline(time.Now().Add(l.cfg.ReadTimeout))
	}
	_, err := l.w.Write(b)
	return err
}

// watch makes reads fail once ctx ends, until the returned func is called.
func (l *Link) watch(ctx context.Context) func() {
	if ctx.Done() == nil {
		return func() {}
	}
	stop := context.AfterFunc(ctx, l.guard.cancel)
	return func() {
		if !stop() {
			// cancel ran or runs: the link is broken anyway
			l.state = stateBroken
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

var errCanceled = errors.New("canceled")

// guardReader sets the read deadline before each read and turns a context's
// end into a failed read.
type guardReader struct {
	r        io.Reader
	conn     net.Conn // nil: no deadlines
	timeout  time.Duration
	mu       sync.Mutex
	canceled bool
}

func (g *guardReader) Read(p []byte) (int, error) {
	g.mu.Lock()
	if g.canceled {
		g.mu.Unlock()
		return 0, errCanceled
	}
	if g.conn != nil && g.timeout > 0 {
		_ = g.conn.SetReadDeadline(time.Now().Add(g.timeout))
	}
	g.mu.Unlock()
	return g.r.Read(p)
}

func (g *guardReader) cancel() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.canceled = true
	if g.conn != nil {
		_ = g.conn.SetDeadline(time.Unix(1, 0))
	}
}
