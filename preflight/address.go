package preflight

import (
	"fmt"
	"net/netip"
	"strings"
)

// AddressClass says whether an IP address can be reached from the public
// internet, and so from Adobe's network.
type AddressClass string

// Address classes. Every class but AddressPublic is unreachable from AEP.
const (
	AddressPublic      AddressClass = "public"
	AddressPrivate     AddressClass = "private"     // RFC 1918, IPv6 unique local fc00::/7
	AddressLoopback    AddressClass = "loopback"    // 127.0.0.0/8, ::1
	AddressLinkLocal   AddressClass = "link-local"  // 169.254.0.0/16, fe80::/10
	AddressCGNAT       AddressClass = "cgnat"       // 100.64.0.0/10, carrier-grade NAT
	AddressUnspecified AddressClass = "unspecified" // 0.0.0.0, ::
	AddressReserved    AddressClass = "reserved"    // multicast, documentation, benchmarking, 240.0.0.0/4 …
)

// unreachableFromAEP is the wording every non-public address finding carries.
const unreachableFromAEP = "AEP cannot reach this from Adobe's network"

var (
	cgnat     = netip.MustParsePrefix("100.64.0.0/10")
	reserved4 = []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/8"),
		netip.MustParsePrefix("192.0.0.0/24"),
		netip.MustParsePrefix("192.0.2.0/24"),
		netip.MustParsePrefix("198.18.0.0/15"),
		netip.MustParsePrefix("198.51.100.0/24"),
		netip.MustParsePrefix("203.0.113.0/24"),
		netip.MustParsePrefix("240.0.0.0/4"),
	}
	reserved6 = []netip.Prefix{
		netip.MustParsePrefix("2001:db8::/32"),
		netip.MustParsePrefix("100::/64"),
	}
)

// ClassifyAddress classifies one IP address. IPv4-mapped IPv6 addresses are
// classified as the IPv4 address they carry.
func ClassifyAddress(a netip.Addr) AddressClass {
	a = a.Unmap()
	switch {
	case !a.IsValid(), a.IsUnspecified():
		return AddressUnspecified
	case a.IsLoopback():
		return AddressLoopback
	case a.IsLinkLocalUnicast(), a.IsLinkLocalMulticast():
		return AddressLinkLocal
	case a.IsPrivate():
		return AddressPrivate
	case a.Is4() && cgnat.Contains(a):
		return AddressCGNAT
	case a.IsMulticast(), a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return AddressReserved
	}
	list := reserved6
	if a.Is4() {
		list = reserved4
	}
	for _, p := range list {
		if p.Contains(a) {
			return AddressReserved
		}
	}
	return AddressPublic
}

// AddressInfo is one resolved address and its class.
type AddressInfo struct {
	IP    string       `json:"ip"`
	Class AddressClass `json:"class"`
}

// AddressDetails are the findings of the address stage.
type AddressDetails struct {
	Addresses []AddressInfo `json:"addresses"`
	// ReachableFromAEP is false when no address is public: AEP cannot
	// reach the database at all. A command that registers the connection
	// with AEP can turn this into a failure. (With some public and some
	// non-public addresses it is true, and the stage still warns.)
	ReachableFromAEP bool `json:"reachableFromAEP"`
	// Allowed is set when Options.PrivateAddress accepted a non-public
	// address.
	Allowed bool `json:"allowed,omitempty"`
	// AdmitFrom lists Options.ClientNetworks: what the database's firewall
	// and pg_hba.conf must admit.
	AdmitFrom []string `json:"admitFrom,omitempty"`
}

// classifyAddresses builds the address stage from the resolved addresses.
func (r *runner) classifyAddresses(addrs []netip.Addr) Result {
	res := Result{ID: StageAddress}
	d := &AddressDetails{}
	res.Details = d
	var bad []string
	for _, a := range addrs {
		c := ClassifyAddress(a)
		d.Addresses = append(d.Addresses, AddressInfo{IP: a.String(), Class: c})
		if c == AddressPublic {
			d.ReachableFromAEP = true
		} else {
			bad = append(bad, fmt.Sprintf("%s (%s)", a, c))
		}
	}
	admit := ""
	for _, p := range r.opts.ClientNetworks {
		d.AdmitFrom = append(d.AdmitFrom, p.String())
	}
	if len(d.AdmitFrom) > 0 {
		name := r.opts.ClientNetworksName
		if name == "" {
			name = "the client's networks"
		}
		admit = fmt.Sprintf("the database's firewall and pg_hba.conf must admit %s: %s", name, strings.Join(d.AdmitFrom, ", "))
	}
	switch {
	case len(bad) == 0:
		res.Status, res.Message = Pass, "public address"
		if len(addrs) > 1 {
			res.Message = "all addresses are public"
		}
		if admit != "" {
			res.Message += "; " + admit
		}
		return res
	case r.opts.PrivateAddress == PolicyAccept:
		d.Allowed = true
		res.Status = Pass
		res.Message = fmt.Sprintf("non-public address %s accepted by request (%s unless it is exposed to it)", strings.Join(bad, ", "), unreachableFromAEP)
		return res
	case d.ReachableFromAEP:
		// Mixed: AEP may pick the unreachable address, as pgx and libpq try
		// the addresses in order.
		res.Status, res.Field = Warn, FieldServer
		res.Message = fmt.Sprintf("some addresses are not public, and %s: %s", unreachableFromAEP, strings.Join(bad, ", "))
		res.Remediation = "publish only public addresses for server in DNS"
	default:
		res.Status, res.Field = Warn, FieldServer
		res.Message = fmt.Sprintf("%s: %s", unreachableFromAEP, strings.Join(bad, ", "))
		res.Remediation = "give AEP a public host name or address, reachable from Adobe's IP ranges for your region and allow-listed by the database's firewall"
		if r.opts.PrivateAddress == PolicyFail {
			res.Status, res.Option = Fail, OptionPrivateAddress
			res.Remediation += "; or, where only an emulator dials it, accept it with " + OptionPrivateAddress.String()
		}
	}
	if admit != "" {
		res.Remediation += "; " + admit
	}
	return res
}
