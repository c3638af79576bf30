// Package faultproxy is a small in-process TCP proxy that injects network
// faults between a client and a server, for tests and benchmarks: latency in
// each direction, a black hole that accepts and never forwards, and a reset
// after a number of bytes. It listens on loopback only.
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

	done := make(chan struct{}, 2)
	go func() {
		p.pipe(server, client, p.opts.ResetAfterClientBytes, func() { reset(client); reset(server) })
		done <- struct{}{}
	}()
	go func() {
		p.pipe(client, server, 0, nil)
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
// forwarding them.
func (p *Proxy) pipe(dst, src net.Conn, limit int, onLimit func()) {
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
