package preflight

import (
	"context"
	"crypto/x509"
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

// Event is a step of a running check, for Options.Progress.
type Event struct {
	// Target names the checked connection, as Report.Target; it is set on
	// the first event only, before any stage runs.
	Target string
	// Stage is the stage the event is about; "" on the first event.
	Stage Stage
	// Result is the stage's final result; nil when the stage has only
	// started.
	Result *Result
}

// Policy says how a finding that matters only to a remote client counts
// towards the verdict.
type Policy int8

// Policies.
const (
	PolicyWarn   Policy = iota // a warning: the verdict can still pass
	PolicyFail                 // a failure
	PolicyAccept               // accepted as the caller says; the stage passes and says so
)

// Option names a field of Options that a Result's message or remediation
// refers to. The text names the field as Options.Name (Option.String), and
// Result.Option carries the code, so that a caller which sets the field
// from a setting of its own (a command-line flag, a configuration key) can
// name that setting instead.
type Option string

// Options that results refer to.
const (
	OptionTimeout   Option = "Timeout"   // Options.Timeout: the run's time limit
	OptionRootCAs   Option = "RootCAs"   // Options.RootCAs: the roots that replace the system roots
	OptionPinSHA256 Option = "PinSHA256" // Options.PinSHA256: the pinned certificates
	// Options.PrivateAddress: whether an address AEP cannot reach fails
	OptionPrivateAddress Option = "PrivateAddress"
	// Options.PrivateCA: whether a chain only RootCAs verifies fails
	OptionPrivateCA Option = "PrivateCA"
)

// String returns the option as results' text names it: "Options." and the
// field's name.
func (o Option) String() string { return "Options." + string(o) }

// Options tune a check run. The zero value is ready to use.
type Options struct {
	// Timeout bounds the whole run, audit included. Zero means DefaultTimeout.
	Timeout time.Duration
	// Audit says for every sslmode whether it would connect, and recommends
	// the strictest that does. It dials only the attempts that differ on
	// the wire (at most one plaintext and one TLS attempt beyond those the
	// check makes anyway) and derives the rest. Its attempts never send the
	// password in cleartext or as MD5 over a connection less protected than
	// the checked mode, or the connection's own, would have: it reports
	// that the server asked instead (AuditResult.PasswordWithheld).
	Audit bool
	// RootCAs are the CA certificates that replace the system roots when
	// verifying the server's chain, as tls.Config.RootCAs; nil means the
	// system roots. Results name them OptionRootCAs.
	RootCAs *x509.CertPool
	// Tables are schema-qualified tables or views (schema.name; a bare name
	// means public.name) that must be readable. Names are matched exactly,
	// as the catalog stores them. A name with an empty part (see ValidTable)
	// fails the input stage; a table that does not exist fails the
	// privileges stage, blaming FieldTable.
	Tables []string
	// PinSHA256 are hex SHA-256 fingerprints of certificates (leaf or any in
	// the chain, colons allowed). When set, the server's chain must contain
	// one of them, or the handshake is aborted before credentials are sent,
	// and Prefer does not fall back to plaintext. Pins need an sslMode that
	// starts with TLS: under Disable or Allow the input stage fails, and the
	// connection's own mode is not dialed when it is one of those.
	PinSHA256 []string
	// SSLMode is the mode to check in, when it is not the one conn's TLS keys
	// map to: typically the mode the receiver of a registration will dial in
	// (connstr.Vocabulary.Register). SSLModeUnset means conn.SSLMode(). When
	// the two differ, the run also connects in conn's own mode and reports
	// the outcome in Report.Requested.
	SSLMode connstr.SSLMode
	// SSLModeReason says why SSLMode is checked rather than conn's own mode,
	// for the input stage's message (for example `sslMode "Verify Ca" as
	// registered`).
	SSLModeReason string
	// OfferedModes are the sslModes the registration can express, weakest
	// first. Remediations name only these; nil means every mode.
	OfferedModes []connstr.SSLMode

	// PrivateAddress decides how a private, loopback, link-local or CGNAT
	// address counts: PolicyWarn (the default: this machine may reach it, a
	// remote client cannot), PolicyFail (the connection is for a remote
	// client, such as AEP), or PolicyAccept (the caller knows it is reachable:
	// a VPN, a tunnel, an emulator). The classification stays in
	// AddressDetails either way.
	PrivateAddress Policy
	// PrivateCA decides how a chain that verifies only through RootCAs, not
	// through the system roots, counts when the checked mode verifies the
	// chain: PolicyWarn (the default), PolicyFail (the remote client trusts
	// public roots only, as AEP does), or PolicyAccept (the remote client is
	// known to trust that CA).
	PrivateCA Policy
	// ClientNetworks are the networks the remote client connects from (AEP's
	// published ranges for a region). The address stage names them as what
	// the database's firewall and pg_hba.conf must admit.
	ClientNetworks []netip.Prefix
	// ClientNetworksName names ClientNetworks in messages ("AEP's va7 ranges").
	ClientNetworksName string
	// InputWarnings are remarks from parsing the connection string
	// (connstr.Parsed.Warnings); the input stage reports them with its own.
	InputWarnings []connstr.Warning

	// Progress, when set, is told of the run as it goes, on the goroutine
	// that called Run: first the target, then each stage as it starts (for
	// the stages that wait on the network) and as it finishes, in the order
	// of Stages(), once each, with the result the report will hold. A renderer
	// streams the report with it, so that a hang shows where it hangs.
	Progress func(Event)

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
