// Package netguard keeps tests on this machine: packets go to loopback, to
// an address of this machine that a test names, or nowhere.
//
// Dialer stands between a test and the network. It passes a dial to a
// loopback address on; a dial to any other address fails the test, naming
// the address, and is refused before a packet is sent. Resolver fails the
// test on every lookup: even a query for a made-up name such as
// db.example.com leaves the machine through the system's resolver.
//
// Hosts and Refuser are fakes that answer without the network, for tests
// that feed made-up DNS answers: a test may hand them to the code under test
// as they are, and the guards let them through unwrapped. A test that really
// needs one of this machine's own non-loopback addresses (a listener on the
// interface address, or an address it added to lo) says so with
// AllowOwnAddress.
package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// ErrOffMachine is the error of a dial or a lookup that a guard refused.
var ErrOffMachine = errors.New("netguard: refused traffic that would leave this machine")

// ContextDialer opens connections. *net.Dialer and preflight.Dialer have its
// method.
type ContextDialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// LookupResolver looks names up. *net.Resolver and preflight.Resolver have
// its method.
type LookupResolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Option widens what a guard lets through.
type Option func(*options)

type options struct {
	own []netip.Addr
}

// AllowOwnAddress lets dials to ip through. ip must be an address of one of
// this machine's interfaces, or Dialer fails the test when it is built.
func AllowOwnAddress(ip netip.Addr) Option {
	return func(o *options) { o.own = append(o.own, ip) }
}

// Dialer returns the dialer a test gives the code under test. next is the
// dialer that carries the dials the guard lets through; nil means a
// *net.Dialer without keep-alives, as the pre-flight's default. When next is
// a Refuser or already a guard it is returned as is: it sends nothing, or it
// checks already.
//
// The guard passes a dial to a loopback address, or to an address allowed
// with AllowOwnAddress, to next. Any other dial, a host name included (next
// would look it up), fails t with t.Errorf, which is safe from any
// goroutine, and returns an error wrapping ErrOffMachine without calling
// next.
func Dialer(t testing.TB, next ContextDialer, opts ...Option) ContextDialer {
	t.Helper()
	switch next.(type) {
	case *Refuser, *guardDialer:
		return next
	case nil:
		next = &net.Dialer{KeepAlive: -1}
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	g := &guardDialer{t: t, next: next, allow: map[netip.Addr]bool{}}
	if len(o.own) > 0 {
		own, err := ownAddrs()
		if err != nil {
			t.Errorf("netguard: listing this machine's addresses: %v", err)
		}
		for _, ip := range o.own {
			ip = canon(ip)
			if !own[ip] {
				t.Errorf("netguard: AllowOwnAddress(%s): it is not an address of this machine's interfaces", ip)
				continue
			}
			g.allow[ip] = true
		}
	}
	return g
}

type guardDialer struct {
	t     testing.TB
	next  ContextDialer
	allow map[netip.Addr]bool
}

func (g *guardDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	if strings.HasPrefix(network, "unix") { // a socket file is on this machine by definition
		return g.next.DialContext(ctx, network, address)
	}
	if why := g.refuse(address); why != "" {
		err := fmt.Errorf("%w: a test dialed %s, %s; the dial was refused", ErrOffMachine, address, why)
		g.t.Errorf("%v", err)
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	return g.next.DialContext(ctx, network, address)
}

// refuse says why address may not be dialed, or "" when it may.
func (g *guardDialer) refuse(address string) string {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return "which is not host:port"
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return "a host name that the dialer would look up through the system's resolver (dial an address)"
	}
	ip = canon(ip)
	if ip.IsLoopback() || g.allow[ip] {
		return ""
	}
	return "which is " + describe(ip)
}

// describe names the kind of a refused address, for the failure message.
func describe(ip netip.Addr) string {
	if own, err := ownAddrs(); err == nil && own[ip] {
		return "an address of this machine that the test did not allow (netguard.AllowOwnAddress)"
	}
	switch {
	case ip.IsPrivate():
		return "a private address"
	case cgnat.Contains(ip):
		return "a carrier-grade NAT address"
	case ip.IsLinkLocalUnicast():
		return "a link-local address"
	case ip.IsUnspecified():
		return "the unspecified address"
	case ip.IsMulticast():
		return "a multicast address"
	}
	return "not a loopback address"
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// canon drops what does not change which host an address names.
func canon(ip netip.Addr) netip.Addr { return ip.Unmap().WithZone("") }

// ownAddrs returns the addresses of this machine's interfaces.
func ownAddrs() (map[netip.Addr]bool, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	own := map[netip.Addr]bool{}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			own[canon(p.Addr())] = true
		}
	}
	return own, nil
}

// Resolver returns the resolver a test gives the code under test. When next
// is Hosts or Stall it is returned as is; otherwise every lookup fails t, naming the
// host, and returns an error wrapping ErrOffMachine: no test of ours needs
// the system's resolver, and asking it may send the query beyond this
// machine.
func Resolver(t testing.TB, next LookupResolver) LookupResolver {
	switch next.(type) {
	case Hosts, Stall:
		return next
	}
	return guardResolver{t: t}
}

// Stall is a fake resolver that never answers: each lookup waits for its
// context to end, as one does whose queries go unanswered. It never touches
// the network.
type Stall struct{}

// LookupNetIP waits for ctx to end and returns its error.
func (Stall) LookupNetIP(ctx context.Context, _, _ string) ([]netip.Addr, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

type guardResolver struct{ t testing.TB }

func (g guardResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	err := fmt.Errorf("%w: a test looked up %q through the system's resolver; give it a netguard.Hosts", ErrOffMachine, host)
	g.t.Errorf("%v", err)
	return nil, &net.DNSError{Err: err.Error(), Name: host, UnwrapErr: err}
}

// Hosts is a fake resolver that answers from its table. A name it lacks, or
// one without an address of the family asked for, does not exist
// (NXDOMAIN). It never touches the network.
type Hosts map[string][]netip.Addr

// LookupNetIP answers from the table; network is "ip", "ip4" or "ip6".
func (h Hosts) LookupNetIP(_ context.Context, network, host string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, a := range h[host] {
		if network == "ip" || (network == "ip4") == a.Unmap().Is4() {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return out, nil
}

// Refuser is a dialer that refuses every dial at once, as a closed port
// would, without touching the network. It records the addresses it was
// asked to dial. The zero value is ready to use.
type Refuser struct {
	mu     sync.Mutex
	dialed []string
}

// DialContext records address and returns a connection-refused error.
func (r *Refuser) DialContext(_ context.Context, network, address string) (net.Conn, error) {
	r.mu.Lock()
	r.dialed = append(r.dialed, address)
	r.mu.Unlock()
	return nil, &net.OpError{Op: "dial", Net: network, Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
}

// Dialed returns the addresses dialed so far, in order.
func (r *Refuser) Dialed() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.dialed)
}

// Recorder is a testing.TB that keeps what is reported to it through
// Errorf instead of failing the test it wraps, so that a test can watch a
// guard fail "a test". Every other method is the wrapped TB's.
type Recorder struct {
	testing.TB
	mu       sync.Mutex
	failures []string
}

// Helper does nothing: the guard's callers are not the recorder's.
func (r *Recorder) Helper() {}

// Errorf records the failure.
func (r *Recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}

// Failures returns the failures recorded so far, in order.
func (r *Recorder) Failures() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.failures)
}
