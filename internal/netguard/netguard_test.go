package netguard_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flowpg/flowpg/internal/netguard"
)

// behind stands where the network would be: it counts the dials the guard
// passes on, and sends nothing.
type behind struct {
	mu    sync.Mutex
	calls []string
}

var errBehind = errors.New("reached the dialer behind the guard")

func (b *behind) DialContext(_ context.Context, _, address string) (net.Conn, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls = append(b.calls, address)
	return nil, errBehind
}

func (b *behind) dialed() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.calls...)
}

func TestDialer_OffMachineFailsTheTest(t *testing.T) {
	for _, tt := range []struct{ address, kind string }{
		{"10.1.2.3:5432", "private"},
		{"172.16.0.1:5432", "private"},
		{"192.168.1.1:5432", "private"},
		{"100.64.0.9:5432", "carrier-grade NAT"},
		{"[fd00::7]:5432", "private"},
		{"169.254.1.1:5432", "link-local"},
		{"[::ffff:10.1.2.3]:5432", "private"},
		{"203.0.114.7:5432", "not a loopback"},
		{"[2001:db8::1]:5432", "not a loopback"},
		{"0.0.0.0:5432", "unspecified"},
		{"db.example.com:5432", "host name"},
		{"localhost:5432", "host name"},
		{"10.1.2.3", "not host:port"},
	} {
		t.Run(tt.address, func(t *testing.T) {
			tb := &netguard.Recorder{TB: t}
			next := &behind{}
			conn, err := netguard.Dialer(tb, next).DialContext(context.Background(), "tcp", tt.address)
			require.Nil(t, conn)
			require.ErrorIs(t, err, netguard.ErrOffMachine)
			var opErr *net.OpError
			require.ErrorAs(t, err, &opErr, "a dial error, as a dialer returns")

			fails := tb.Failures()
			require.Len(t, fails, 1, "the test fails, once")
			assert.Contains(t, fails[0], tt.address, "the failure names the address")
			assert.Contains(t, fails[0], tt.kind)
			assert.Empty(t, next.dialed(), "nothing was sent: the dialer behind the guard was never called")
		})
	}
}

func TestDialer_LoopbackPasses(t *testing.T) {
	for _, address := range []string{"127.0.0.1:5432", "127.9.9.9:1", "[::1]:5432", "[::ffff:127.0.0.1]:5432"} {
		t.Run(address, func(t *testing.T) {
			tb := &netguard.Recorder{TB: t}
			next := &behind{}
			_, err := netguard.Dialer(tb, next).DialContext(context.Background(), "tcp", address)
			require.ErrorIs(t, err, errBehind)
			assert.Equal(t, []string{address}, next.dialed())
			assert.Empty(t, tb.Failures())
		})
	}
}

// The default dialer behind the guard is a real one.
func TestDialer_NilNextDialsForReal(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
		}
	}()
	conn, err := netguard.Dialer(t, nil).DialContext(context.Background(), "tcp", ln.Addr().String())
	require.NoError(t, err)
	conn.Close()
}

// ownAddress returns a non-loopback address of this machine, or skips.
func ownAddress(t *testing.T) netip.Addr {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	require.NoError(t, err)
	for _, a := range addrs {
		p, err := netip.ParsePrefix(a.String())
		if err == nil && !p.Addr().IsLoopback() && !p.Addr().IsLinkLocalUnicast() {
			return p.Addr()
		}
	}
	t.Skip("SKIP: this machine has no non-loopback address to test AllowOwnAddress with")
	return netip.Addr{}
}

func TestDialer_OwnAddressOnlyWhenAllowed(t *testing.T) {
	own := ownAddress(t)
	address := netip.AddrPortFrom(own, 5432).String()

	tb := &netguard.Recorder{TB: t}
	next := &behind{}
	_, err := netguard.Dialer(tb, next).DialContext(context.Background(), "tcp", address)
	require.ErrorIs(t, err, netguard.ErrOffMachine)
	require.Len(t, tb.Failures(), 1)
	assert.Contains(t, tb.Failures()[0], "AllowOwnAddress", "the failure says how to allow it")
	assert.Empty(t, next.dialed())

	tb = &netguard.Recorder{TB: t}
	_, err = netguard.Dialer(tb, next, netguard.AllowOwnAddress(own)).DialContext(context.Background(), "tcp", address)
	require.ErrorIs(t, err, errBehind)
	assert.Equal(t, []string{address}, next.dialed())
	assert.Empty(t, tb.Failures())
}

func TestDialer_AllowOwnAddressRefusesOthers(t *testing.T) {
	notOwn := netip.MustParseAddr("198.51.100.7") // TEST-NET-2
	addrs, err := net.InterfaceAddrs()
	require.NoError(t, err)
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr() == notOwn {
			t.Skip("SKIP: this machine has 198.51.100.7")
		}
	}
	tb := &netguard.Recorder{TB: t}
	next := &behind{}
	d := netguard.Dialer(tb, next, netguard.AllowOwnAddress(notOwn))
	require.Len(t, tb.Failures(), 1, "declaring an address that is not this machine's fails the test")
	assert.Contains(t, tb.Failures()[0], "198.51.100.7")

	_, err = d.DialContext(context.Background(), "tcp", "198.51.100.7:5432")
	require.ErrorIs(t, err, netguard.ErrOffMachine)
	assert.Empty(t, next.dialed())
}

// A Refuser sends nothing, so the guard hands it back unwrapped: a test
// may feed it any address.
func TestDialer_RefuserPassesUnwrapped(t *testing.T) {
	tb := &netguard.Recorder{TB: t}
	r := &netguard.Refuser{}
	d := netguard.Dialer(tb, r)
	require.Same(t, r, d)
	_, err := d.DialContext(context.Background(), "tcp", "10.1.2.3:5432")
	require.ErrorIs(t, err, syscall.ECONNREFUSED)
	assert.Equal(t, []string{"10.1.2.3:5432"}, r.Dialed())
	assert.Empty(t, tb.Failures())

	g := netguard.Dialer(tb, nil)
	require.Same(t, g, netguard.Dialer(tb, g), "a guard is not wrapped twice")
}

func TestResolver_EveryLookupFailsTheTest(t *testing.T) {
	for name, next := range map[string]netguard.LookupResolver{"nil": nil, "system": net.DefaultResolver} {
		t.Run(name, func(t *testing.T) {
			tb := &netguard.Recorder{TB: t}
			addrs, err := netguard.Resolver(tb, next).LookupNetIP(context.Background(), "ip4", "db.example.com")
			require.Empty(t, addrs)
			require.ErrorIs(t, err, netguard.ErrOffMachine)
			var dnsErr *net.DNSError
			require.ErrorAs(t, err, &dnsErr)
			require.Len(t, tb.Failures(), 1)
			assert.Contains(t, tb.Failures()[0], `"db.example.com"`)
		})
	}
}

func TestHosts(t *testing.T) {
	tb := &netguard.Recorder{TB: t}
	h := netguard.Hosts{"db.example": {netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("fd00::1")}}
	r := netguard.Resolver(tb, h)
	ctx := context.Background()

	v4, err := r.LookupNetIP(ctx, "ip4", "db.example")
	require.NoError(t, err)
	assert.Equal(t, []netip.Addr{netip.MustParseAddr("10.1.2.3")}, v4)
	v6, err := r.LookupNetIP(ctx, "ip6", "db.example")
	require.NoError(t, err)
	assert.Equal(t, []netip.Addr{netip.MustParseAddr("fd00::1")}, v6)
	all, err := r.LookupNetIP(ctx, "ip", "db.example")
	require.NoError(t, err)
	assert.Len(t, all, 2)

	_, err = r.LookupNetIP(ctx, "ip4", "nope.example")
	var dnsErr *net.DNSError
	require.ErrorAs(t, err, &dnsErr)
	assert.True(t, dnsErr.IsNotFound)
	assert.Empty(t, tb.Failures(), "a fake answers without failing the test")
}

// nop is a dialer that does nothing, to time the guard's own check.
type nop struct{}

func (nop) DialContext(context.Context, string, string) (net.Conn, error) { return nil, nil }

// BenchmarkDialer reports what the guard adds to each dial that it lets
// through (the preflight benchmarks run guarded), beside a bare call.
func BenchmarkDialer(b *testing.B) {
	ctx := context.Background()
	for name, d := range map[string]netguard.ContextDialer{"bare": nop{}, "guarded": netguard.Dialer(b, nop{})} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = d.DialContext(ctx, "tcp", "127.0.0.1:5432")
			}
		})
	}
}
