// Package faultproxy is a small in-process TCP proxy that injects network
// faults between a client and a server, for tests and benchmarks: latency in
// each direction, a black hole that accepts and never forwards, and a reset
// after a number of bytes. It listens on loopback only. It can also record
// the flights of each connection, to count round trips from the traffic
// itself rather than from a clock.
package faultproxy

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// Options choose the faults. The zero value forwards everything untouched.
type Options struct {
	// Latency delays every chunk, in each direction, by this much. Chunks
	// keep their order and are not serialised behind each other's delay,
	// as on a long link.
	Latency time.Duration
	// BlackHole accepts connections but never forwards a byte nor closes
	// them until the proxy is closed.
	BlackHole bool
	// ResetAfterClientBytes, when positive, resets both connections (TCP
	// RST) once more than this many bytes came from the client. With 8,
	// PostgreSQL's SSLRequest passes and the TLS ClientHello triggers the
	// reset: a reset in the middle of the TLS handshake.
	ResetAfterClientBytes int
	// Trace records the flights of every connection; see Flights.
	Trace bool
}

// Proxy forwards connections from Addr to an upstream address.
type Proxy struct {
	// Addr is the proxy's loopback address, host:port.
	Addr string

	ln       net.Listener
	upstream string
	opts     Options

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
	traces []*trace // with Options.Trace, one per accepted connection
}

// New starts a proxy to upstream on a free loopback port.
func New(upstream string, opts Options) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{Addr: ln.Addr().String(), ln: ln, upstream: upstream, opts: opts, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// ClosedPort returns a loopback address on which nothing listens, so a dial
// is refused.
func ClosedPort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// Close stops the proxy and closes every connection it holds.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	err := p.ln.Close()
	p.wg.Wait()
	return err
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			continue
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.handle(c)
		}()
	}
}

func (p *Proxy) handle(client net.Conn) {
	defer p.untrack(client)
	if p.opts.BlackHole {
		_, _ = io.Copy(io.Discard, client) // until the client or Close ends it
		return
	}
	server, err := net.Dial("tcp", p.upstream)
	if err != nil {
		reset(client)
		return
	}
	if !p.track(server) {
		return
	}
	defer p.untrack(server)

	var fromClient, fromServer func([]byte, bool)
	if p.opts.Trace {
		tr := &trace{}
		p.mu.Lock()
		p.traces = append(p.traces, tr)
		p.mu.Unlock()
		fromClient = func(b []byte, closed bool) { tr.add(true, b, closed) }
		fromServer = func(b []byte, closed bool) { tr.add(false, b, closed) }
	}
	done := make(chan struct{}, 2)
	go func() {
		p.pipe(server, client, p.opts.ResetAfterClientBytes, func() { reset(client); reset(server) }, fromClient)
		done <- struct{}{}
	}()
	go func() {
		p.pipe(client, server, 0, nil, fromServer)
		done <- struct{}{}
	}()
	<-done
	// One direction ended: end both, so the other pipe returns too.
	client.Close()
	server.Close()
	<-done
}

// pipe copies src to dst with the configured latency. When limit is
// positive and more than limit bytes arrive, onLimit runs instead of
// forwarding them. A non-nil seen is told of every read from src as it
// happens, and once more when src ends.
func (p *Proxy) pipe(dst, src net.Conn, limit int, onLimit func(), seen func(b []byte, closed bool)) {
	type chunk struct {
		b  []byte
		at time.Time
	}
	queue := make(chan chunk, 1024)
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for c := range queue {
			if d := time.Until(c.at); d > 0 {
				time.Sleep(d)
			}
			if _, err := dst.Write(c.b); err != nil {
				// Drain so the reader never blocks on a full queue.
				for range queue {
				}
				return
			}
		}
	}()
	defer func() {
		close(queue)
		<-writerDone
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	}()
	total := 0
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if seen != nil && (n > 0 || err != nil) {
			seen(buf[:n], err != nil)
		}
		if n > 0 {
			total += n
			if limit > 0 && total > limit {
				onLimit()
				return
			}
			queue <- chunk{b: append([]byte(nil), buf[:n]...), at: time.Now().Add(p.opts.Latency)}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				return
			}
			return
		}
	}
}

// reset closes c with an RST instead of a FIN.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.Close()
}

// HeadSize is how many leading bytes of a flight Flight.Head keeps.
const HeadSize = 64

// Flight is what one side sent before the other side sent anything: the
// unit of a round trip. Flights of a connection alternate between the client
// and the server, in the order the proxy read them. With 20 ms of latency
// each way a side's answer reaches the proxy long after the question, so the
// order is the protocol's, not an accident of scheduling.
type Flight struct {
	// FromClient is true for bytes the client sent.
	FromClient bool
	// Bytes is how many bytes the flight carried.
	Bytes int
	// Head is the flight's first bytes, at most HeadSize: enough to tell
	// which messages open it.
	Head []byte
	// Closed is true when the sender closed or reset its side after the
	// flight; a flight of 0 bytes is such a close alone.
	Closed bool
}

// trace is the flights of one connection.
type trace struct {
	mu      sync.Mutex
	flights []Flight
}

func (t *trace) add(fromClient bool, b []byte, closed bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(t.flights)
	if n == 0 || t.flights[n-1].FromClient != fromClient {
		if len(b) == 0 && !closed {
			return
		}
		t.flights = append(t.flights, Flight{FromClient: fromClient})
		n++
	}
	f := &t.flights[n-1]
	f.Bytes += len(b)
	if k := min(HeadSize-len(f.Head), len(b)); k > 0 {
		f.Head = append(f.Head, b[:k]...)
	}
	f.Closed = f.Closed || closed
}

// Flights returns, for every connection accepted since the proxy started
// or since the last ResetFlights, in accept order, the flights seen so far.
// It is empty unless Options.Trace is set.
func (p *Proxy) Flights() [][]Flight {
	p.mu.Lock()
	traces := append([]*trace(nil), p.traces...)
	p.mu.Unlock()
	out := make([][]Flight, len(traces))
	for i, t := range traces {
		t.mu.Lock()
		for _, f := range t.flights {
			f.Head = append([]byte(nil), f.Head...)
			out[i] = append(out[i], f)
		}
		t.mu.Unlock()
	}
	return out
}

// ResetFlights forgets the flights recorded so far.
func (p *Proxy) ResetFlights() {
	p.mu.Lock()
	p.traces = nil
	p.mu.Unlock()
}

// Turns counts the round trips of one connection that the client waited
// for: the server flights that the client answered, by sending more or by
// closing. A server flight nobody answers (say, a close_notify after the
// client's Terminate) costs the client nothing. The TCP handshake is not in
// the flights: add one round trip for it.
func Turns(flights []Flight) int {
	n := 0
	for i, f := range flights {
		if !f.FromClient && i+1 < len(flights) && flights[i+1].FromClient {
			n++
		}
	}
	return n
}

// TLS record content types and the ClientHello handshake type (RFC 8446).
const (
	recordChangeCipherSpec = 20
	recordHandshake        = 22
	handshakeClientHello   = 1
)

// TLSHandshake reads the TLS records at the start of a flight and reports
// whether the flight carries a plaintext handshake record, and whether that
// is a ClientHello. A client flight that carries a plaintext handshake record
// waits for the server's answer before the handshake can go on: one per full
// TLS 1.3 handshake, two after a HelloRetryRequest (both are ClientHellos),
// two in TLS 1.2. A ChangeCipherSpec record in front, which TLS 1.3's
// middlebox compatibility mode sends before a second ClientHello, is skipped.
func (f Flight) TLSHandshake() (handshake, clientHello bool) {
	h := f.Head
	for len(h) >= 5 {
		typ, n := h[0], int(h[3])<<8|int(h[4])
		switch typ {
		case recordHandshake:
			return true, len(h) > 5 && h[5] == handshakeClientHello
		case recordChangeCipherSpec:
			if len(h) < 5+n {
				return false, false
			}
			h = h[5+n:]
		default:
			return false, false
		}
	}
	return false, false
}
