package protocol

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

// fakePeer listens on loopback and answers each command the link sends with
// reply(args): the bytes to write back ("" writes nothing).
func fakePeer(t *testing.T, reply func(args []string) string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return servePeer(t, ln, reply)
}

// servePeer answers each connection on ln, one at a time, until the test ends.
func servePeer(t *testing.T, ln net.Listener, reply func(args []string) string) string {
	done := make(chan struct{})
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		<-done
	})
	go func() {
		defer close(done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
			serveConn(conn, reply)
		}
	}()
	return ln.Addr().String()
}

func serveConn(conn net.Conn, reply func(args []string) string) {
	defer conn.Close()
	cr := NewCommandReader(bufio.NewReader(conn), Limits{})
	for {
		cmd, err := cr.ReadCommand()
		if err != nil {
			return
		}
		args := make([]string, len(cmd.Args))
		for i, a := range cmd.Args {
			args[i] = string(a)
		}
		if r := reply(args); r != "" {
			if _, err := conn.Write([]byte(r)); err != nil {
				return
			}
		}
	}
}

func dialPeer(t *testing.T, addr string, cfg LinkConfig) *Link {
	t.Helper()
	cfg.Addr = addr
	cfg.Logger = zaptest.NewLogger(t)
	l, err := Dial(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// standard answers the handshake and lets psync decide the answer to PSYNC.
func standard(psync func() string) func([]string) string {
	return func(args []string) string {
		switch strings.ToUpper(args[0]) {
		case "REPLCONF":
			if strings.EqualFold(args[1], "ACK") {
				return "" // a master does not answer ACKs
			}
			return "+OK\r\n"
		case "AUTH":
			return "+OK\r\n"
		case "PING":
			return "+PONG\r\n"
		case "INFO":
			return "$32\r\n# Server\r\nvalkey_version:9.1.2\r\n\r\n"
		case "PSYNC":
			return psync()
		}
		return "-ERR unknown command\r\n"
	}
}

func TestPeerRefusal(t *testing.T) {
	for _, tt := range []struct {
		name  string
		reply func([]string) string
		want  error
	}{
		{"managed service", standard(func() string { return "-ERR unknown command 'psync', with args beginning with: \r\n" }), ErrSyncRefused},
		{"noperm", standard(func() string { return "-NOPERM this user has no permissions to run the 'psync' command\r\n" }), ErrSyncRefused},
		{"wrongpass", func([]string) string { return "-WRONGPASS invalid username-password pair or user is disabled.\r\n" }, ErrAuth},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l := dialPeer(t, fakePeer(t, tt.reply), LinkConfig{Password: "secret-pw"})
			_, err := l.PSync(context.Background(), "?", -1)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
			if strings.Contains(err.Error(), "secret-pw") {
				t.Fatal("the password is in the error")
			}
			t.Log(err)
		})
	}
}

func TestPeerLoadingRetry(t *testing.T) {
	n := 0
	addr := fakePeer(t, standard(func() string {
		n++
		if n < 3 {
			return "-LOADING Redis is loading the dataset in memory\r\n"
		}
		return "+FULLRESYNC " + testReplID + " 42\r\n\n\n$5\r\nREDIS" + cmd("PING")
	}))
	l := dialPeer(t, addr, LinkConfig{})
	res, err := l.PSync(context.Background(), "?", -1)
	if err != nil || !res.Full || res.Offset != 42 {
		t.Fatalf("%+v %v", res, err)
	}
	var sb strings.Builder
	if n, err := l.ReadSnapshot(context.Background(), &sb, nil); err != nil || n != 5 || sb.String() != "REDIS" {
		t.Fatalf("%d %q %v", n, sb.String(), err)
	}
	if c, err := l.ReadCommand(); err != nil || string(c.Args[0]) != "PING" {
		t.Fatalf("%v %v", c, err)
	}
}

// A source that stays LOADING: PSync waits until ctx ends.
func TestPeerLoadingUntilCanceled(t *testing.T) {
	addr := fakePeer(t, standard(func() string { return "-LOADING Redis is loading the dataset in memory\r\n" }))
	l := dialPeer(t, addr, LinkConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, err := l.PSync(ctx, "?", -1)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "LOADING") {
		t.Fatalf("err %v", err)
	}
}

// A source that never answers: ctx ends the wait at once, whatever ReadTimeout is.
func TestPeerCancelWhileWaiting(t *testing.T) {
	addr := fakePeer(t, standard(func() string { return "+FULLRESYNC " + testReplID + " 1\r\n\n" }))
	l := dialPeer(t, addr, LinkConfig{ReadTimeout: time.Minute})
	if _, err := l.PSync(context.Background(), "?", -1); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := l.ReadSnapshot(ctx, &strings.Builder{}, nil)
	if !errors.Is(err, context.Canceled) || time.Since(start) > 5*time.Second {
		t.Fatalf("err %v after %v", err, time.Since(start))
	}
}

func TestPeerReadTimeoutAndClose(t *testing.T) {
	addr := fakePeer(t, standard(func() string { return "+CONTINUE\r\n" }))
	l := dialPeer(t, addr, LinkConfig{ReadTimeout: 200 * time.Millisecond})
	if _, err := l.PSync(context.Background(), testReplID, 10); err != nil {
		t.Fatal(err)
	}
	var ne net.Error
	if _, err := l.ReadCommand(); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("err %v, want a timeout", err)
	}

	l = dialPeer(t, fakePeer(t, standard(func() string { return "+CONTINUE\r\n" })), LinkConfig{ReadTimeout: -1})
	if _, err := l.PSync(context.Background(), testReplID, 10); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { _, err := l.ReadCommand(); errc <- err }()
	time.Sleep(50 * time.Millisecond)
	if err := l.SendAck(9); err != nil { // concurrently with ReadCommand
		t.Fatal(err)
	}
	l.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("err %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock ReadCommand")
	}
	if l.RemoteAddr() == "" {
		t.Fatal("no remote addr")
	}
}

func TestPeerTLS(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "source"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}})
	if err != nil {
		t.Fatal(err)
	}
	addr := servePeer(t, ln, standard(func() string { return "+FULLRESYNC " + testReplID + " 3\r\n$3\r\nabc" + cmd("PING") }))
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	l := dialPeer(t, addr, LinkConfig{TLS: &tls.Config{RootCAs: pool}}) // ServerName comes from Addr
	res, err := l.PSync(context.Background(), "?", -1)
	if err != nil || !res.Full {
		t.Fatalf("%+v %v", res, err)
	}
	var sb strings.Builder
	if n, err := l.ReadSnapshot(context.Background(), &sb, nil); err != nil || n != 3 || sb.String() != "abc" {
		t.Fatalf("%d %q %v", n, sb.String(), err)
	}
	if c, err := l.ReadCommand(); err != nil || string(c.Raw) != cmd("PING") {
		t.Fatalf("%v %v", c, err)
	}

	// Without the CA the dial fails.
	l.Close()
	if _, err := Dial(context.Background(), LinkConfig{Addr: addr, TLS: &tls.Config{}}); err == nil {
		t.Fatal("dial without the CA succeeded")
	}
}
