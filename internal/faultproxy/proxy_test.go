package faultproxy

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

// echo starts a loopback server that echoes what it reads.
func echo(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	return ln.Addr().String()
}

func start(t *testing.T) *Proxy {
	t.Helper()
	p, err := Start(echo(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func dial(t *testing.T, p *Proxy) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	return c
}

func TestForwards(t *testing.T) {
	p := start(t)
	c := dial(t, p)
	msg := bytes.Repeat([]byte("redferry"), 10000)
	go c.Write(msg)
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo through the proxy: %v", err)
	}
	if p.Bytes(Upstream) != int64(len(msg)) || p.Bytes(Downstream) != int64(len(msg)) {
		t.Errorf("bytes up %d down %d, want %d", p.Bytes(Upstream), p.Bytes(Downstream), len(msg))
	}
}

func TestDropAfterDeliversExactlyNBytes(t *testing.T) {
	for _, d := range []Direction{Upstream, Downstream} {
		t.Run(d.String(), func(t *testing.T) {
			p := start(t)
			c := dial(t, p)
			done := p.DropAfter(d, 1000)
			go c.Write(make([]byte, 5000))
			got, _ := io.ReadAll(c)
			// Upstream, the cut comes as the server gets its bytes: the echo
			// has no time to come back.
			if d == Downstream && len(got) != 1000 || p.Bytes(d) != 1000 {
				t.Errorf("%d bytes forwarded, %d received before the cut, want 1000", p.Bytes(d), len(got))
			}
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("the drop did not happen")
			}
		})
	}
}

func TestCutStallRefuse(t *testing.T) {
	p := start(t)
	c := dial(t, p)
	for p.Conns() == 0 { // the proxy accepts after the client's dial returns
		time.Sleep(time.Millisecond)
	}
	p.Cut()
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("read after Cut succeeded")
	}

	c = dial(t, p)
	p.Stall()
	c.Write([]byte("x"))
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, _ := c.Read(make([]byte, 1)); n != 0 {
		t.Fatal("bytes went through a stalled proxy")
	}
	p.Resume()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 1)); n != 1 {
		t.Fatalf("after Resume: %v", err)
	}

	p.Refuse(true)
	c = dial(t, p)
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("a refused connection stayed open")
	}
	p.Refuse(false)
	c = dial(t, p)
	c.Write([]byte("y"))
	if n, err := c.Read(make([]byte, 1)); n != 1 {
		t.Fatalf("after Refuse(false): %v", err)
	}
}

func TestThrottle(t *testing.T) {
	p := start(t)
	p.Throttle(Downstream, 200<<10)
	c := dial(t, p)
	go c.Write(make([]byte, 100<<10))
	start := time.Now()
	if _, err := io.ReadFull(c, make([]byte, 100<<10)); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Errorf("100 KiB at 200 KiB/s took %s", took)
	}
}
