// Package faultproxy is a TCP proxy for tests: it listens on loopback,
// forwards every connection to one target, and lets a test break the links
// on purpose: cut every connection now, stall the bytes in flight, refuse new
// connections, or cut every connection once a given number of bytes has gone
// through in one direction (to land a failure in the middle of a snapshot, a
// stream or a pipeline).
package faultproxy

import (
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Direction of the bytes a fault counts.
type Direction int

const (
	// Upstream: from the client (redferry) to the server.
	Upstream Direction = iota
	// Downstream: from the server to the client.
	Downstream
)

func (d Direction) String() string {
	if d == Upstream {
		return "upstream"
	}
	return "downstream"
}

// Proxy forwards connections from Addr to a target. Its methods are safe for
// concurrent use.
type Proxy struct {
	target string
	ln     net.Listener

	mu      sync.Mutex
	conns   map[*pair]struct{}
	stalled chan struct{} // non-nil while stalled; closed by Resume
	refuse  bool
	drop    [2]int64 // bytes left before a cut per direction; -1: not armed
	rate    [2]int64 // bytes per second per connection; 0: no limit
	dropped chan struct{}
	closed  bool

	accepted atomic.Int64
	cuts     atomic.Int64
	bytes    [2]atomic.Int64
	wg       sync.WaitGroup
}

// pair is one client connection and its server connection.
type pair struct{ client, server net.Conn }

func (p *pair) close() { p.client.Close(); p.server.Close() }

// Start listens on 127.0.0.1 (a free port) and forwards to target.
func Start(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listen: %w", err)
	}
	p := &Proxy{target: target, ln: ln, conns: map[*pair]struct{}{}, drop: [2]int64{-1, -1}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the host:port to connect to instead of the target.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Target is the address the proxy forwards to.
func (p *Proxy) Target() string { return p.target }

// Close stops listening and closes every connection.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	if p.stalled != nil {
		close(p.stalled)
		p.stalled = nil
	}
	p.mu.Unlock()
	err := p.ln.Close()
	p.Cut()
	p.wg.Wait()
	return err
}

// Cut closes every open connection at once (both sides see a reset or EOF).
// New connections are still accepted.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cutLocked()
}

func (p *Proxy) cutLocked() {
	for c := range p.conns {
		c.close()
		delete(p.conns, c)
	}
	p.cuts.Add(1)
}

// Stall holds every byte in flight, in both directions, on open and new
// connections, until Resume: the peers see a silent link.
func (p *Proxy) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stalled == nil {
		p.stalled = make(chan struct{})
	}
}

// Resume lets stalled bytes go on.
func (p *Proxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stalled != nil {
		close(p.stalled)
		p.stalled = nil
	}
}

// Refuse makes the proxy close new connections at once (on) as if the
// target were down, or accept them again (off). Open connections stay.
func (p *Proxy) Refuse(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refuse = on
}

// DropAfter arms a one-shot fault: once n more bytes have been forwarded in
// direction d (over all connections), the first n are delivered and every
// connection is cut. The returned channel is closed when the cut happens.
func (p *Proxy) DropAfter(d Direction, n int64) <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.drop[d] = max(n, 0)
	p.dropped = make(chan struct{})
	return p.dropped
}

// Throttle limits each connection to bytesPerSecond in direction d (0: no
// limit), to make a snapshot download last long enough to be hit.
func (p *Proxy) Throttle(d Direction, bytesPerSecond int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rate[d] = max(bytesPerSecond, 0)
}

// Bytes is how many bytes went through in direction d so far.
func (p *Proxy) Bytes(d Direction) int64 { return p.bytes[d].Load() }

// Accepted is how many connections the proxy accepted (and did not refuse).
func (p *Proxy) Accepted() int64 { return p.accepted.Load() }

// Conns is how many connections are open now.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		p.mu.Lock()
		refuse := p.refuse || p.closed
		p.mu.Unlock()
		if refuse {
			c.Close()
			continue
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		pr := &pair{client: c, server: s}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			pr.close()
			return
		}
		p.conns[pr] = struct{}{}
		p.mu.Unlock()
		p.accepted.Add(1)
		p.wg.Add(2)
		go p.pipe(pr, Upstream, c, s)
		go p.pipe(pr, Downstream, s, c)
	}
}

// pipe copies from src to dst, applying the faults before each write.
func (p *Proxy) pipe(pr *pair, d Direction, src io.Reader, dst io.Writer) {
	defer p.wg.Done()
	defer func() {
		p.mu.Lock()
		delete(p.conns, pr)
		p.mu.Unlock()
		pr.close()
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.forward(d, buf[:n], dst) {
			return
		}
		if err != nil {
			return
		}
	}
}

// forward writes b to dst unless a fault stops it; false ends the pipe.
func (p *Proxy) forward(d Direction, b []byte, dst io.Writer) bool {
	for {
		p.mu.Lock()
		st := p.stalled
		p.mu.Unlock()
		if st == nil {
			break
		}
		<-st
	}
	p.mu.Lock()
	cut := false
	if left := p.drop[d]; left >= 0 {
		if int64(len(b)) >= left {
			b, cut = b[:left], true
		} else {
			p.drop[d] = left - int64(len(b))
		}
	}
	if cut {
		// Deliver the last bytes before the cut, under the lock, so no other
		// pipe slips bytes past the limit.
		p.drop[d] = -1
		if len(b) > 0 {
			p.bytes[d].Add(int64(len(b)))
			_, _ = dst.Write(b)
		}
		p.cutLocked()
		close(p.dropped)
		p.mu.Unlock()
		return false
	}
	rate := p.rate[d]
	p.mu.Unlock()
	p.bytes[d].Add(int64(len(b))) // counted before the peer can see them
	if _, err := dst.Write(b); err != nil {
		return false
	}
	if rate > 0 {
		time.Sleep(time.Duration(int64(len(b)) * int64(time.Second) / rate))
	}
	return true
}
