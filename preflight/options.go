package preflight

import (
	"context"
	"net"
	"net/netip"
	"time"

	"github.com/flowpg/flowpg/connstr"
)

// DefaultTimeout bounds a whole check run when Options.Timeout is zero.
const DefaultTimeout = 15 * time.Second

// Dialer opens TCP connections. *net.Dialer satisfies it; tests inject
// fault-injecting dialers.
type Dialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// Resolver looks up host names. *net.Resolver satisfies it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Options tune a check run. The zero value is ready to use.
type Options struct {
	// Timeout bounds the whole run, audit included. Zero means DefaultTimeout.
	Timeout time.Duration
	// Audit tries every sslmode in parallel and recommends the strictest
	// that works.
	Audit bool
	// CAFile is a PEM file of CA certificates that replaces the system roots
	// when verifying the server's chain.
	CAFile string
	// Tables are schema-qualified tables or views (schema.name; a bare name
	// means public.name) that must be readable. Names are matched exactly,
	// as the catalog stores them.
	Tables []string
	// PinSHA256 are hex SHA-256 fingerprints of certificates (leaf or any in
	// the chain, colons allowed). When set, the server's chain must contain
	// one of them, or the handshake is aborted before credentials are sent.
	PinSHA256 []string
	// AllowPrivateAddress records that the caller knows a private, loopback,
	// link-local or CGNAT address is reachable (a VPN, a tunnel): the address
	// stage then passes instead of warning. The classification stays in
	// AddressDetails either way.
	AllowPrivateAddress bool
	// InputWarnings are remarks from parsing the connection string
	// (connstr.Parsed.Warnings); the input stage reports them with its own.
	InputWarnings []connstr.Warning

	// Dialer opens TCP connections; nil means a *net.Dialer.
	Dialer Dialer
	// Resolver resolves Server; nil means net.DefaultResolver.
	Resolver Resolver
	// Now is the clock for certificate expiry and end-of-life dates; nil
	// means time.Now.
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Dialer == nil {
		o.Dialer = &net.Dialer{KeepAlive: -1}
	}
	if o.Resolver == nil {
		o.Resolver = net.DefaultResolver
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}
