package connstr

import (
	"net/netip"
	"strings"
)

// serverFault is what is wrong with a Server value, and where in it.
type serverFault struct {
	at   int // byte offset in the value
	kind serverFaultKind
	port string // the digits after the ':' for faultPort, else ""
	c    string // the offending character for faultChar
}

type serverFaultKind int8

const (
	faultSpace serverFaultKind = iota
	faultSocket
	faultSeveral
	faultPort
	faultNotIPv4
	faultBrackets
	faultZone
	faultChar
	faultNonASCII
	faultHash
	faultLabel
	faultTooLong
)

// message says what is wrong and how to fix it. hostKey and portKey are the
// keys the input form uses (Server and Port, host and port, …). It never
// quotes the value: a mangled string can put a password into it.
func (f *serverFault) message(hostKey, portKey string) string {
	switch f.kind {
	case faultSpace:
		return "the host holds whitespace, which no host name or address has: remove it"
	case faultSocket:
		return "the host is a Unix-socket directory, which AEP cannot use: it connects over TCP, so give the host name or address the server listens on"
	case faultSeveral:
		return "the host lists several hosts, and AEP takes one: give only the host AEP should connect to"
	case faultPort:
		fix := "put the port in " + portKey + "="
		if f.port != "" {
			fix += " (" + portKey + "=" + f.port + ")"
		}
		return "the host holds a port after ':': " + fix + " and only the host in " + hostKey + "="
	case faultNotIPv4:
		return "the host is a number that is not an IPv4 address (four numbers 0-255 separated by '.', without leading zeros): fix the address or give a host name"
	case faultBrackets:
		return "brackets around the host may hold only an IPv6 address, as in [2001:db8::1]: remove them or fix the address"
	case faultZone:
		return "the host has an IPv6 zone (%…), which names a network interface of one machine and which AEP cannot use: give a global address or a host name"
	case faultChar:
		return "the host holds " + f.c + ", which no host name has: give a host name (letters, digits, '-', '_' and '.') or an IP address"
	case faultNonASCII:
		return "the host holds a non-ASCII character: write an internationalized name in its ASCII (xn--) form"
	case faultHash:
		return "the host holds '#', which no host name has; '#' does not start a comment in a connection string: remove it and what follows"
	case faultLabel:
		return "the host has an empty label, a label over 63 characters, or a label that starts or ends with '-': fix the host name"
	case faultTooLong:
		return "the host is longer than 253 characters, more than any host name has"
	}
	return "the host is not a host name or an IP address"
}

// checkServer validates a Server value as one host AEP can dial over TCP:
// a DNS host name, an IPv4 address or an IPv6 address. A bracketed IPv6
// literal ([2001:db8::1]) means the address inside, which it returns; any
// other valid value is returned as is. "" (absent) passes: Validate
// requires a server, Parse does not.
//
// A host name follows the rules of Go's resolver (letters, digits, '-',
// '_', labels of 1-63 characters that neither start nor end with '-', at
// most 253 characters, one trailing '.' allowed), so a name this accepts is
// one the pre-flight can look up. A name whose last label is a number must
// be an IPv4 address: resolvers differ on 256.1.1.1, 1.2.3 or 010.1.1.1.
func checkServer(v string) (string, *serverFault) {
	if v == "" {
		return v, nil
	}
	if plainName(v) {
		return v, checkHostName(v)
	}
	// The faults are checked in an order that names the likeliest mistake:
	// a list before the spaces after its commas, a socket path before the
	// characters in it.
	if strings.HasPrefix(v, "/") || len(v) >= 3 && 'A' <= v[0] && v[0] <= 'Z' && v[1] == ':' && v[2] == '\\' {
		return "", &serverFault{at: 0, kind: faultSocket}
	}
	if i := strings.IndexByte(v, ','); i >= 0 {
		return "", &serverFault{at: i, kind: faultSeveral}
	}
	if i := strings.IndexByte(v, '#'); i >= 0 {
		return "", &serverFault{at: i, kind: faultHash}
	}
	for i := 0; i < len(v); i++ {
		if isSpace(v[i]) {
			return "", &serverFault{at: i, kind: faultSpace}
		}
	}
	if v[0] == '[' {
		end := strings.IndexByte(v, ']')
		if end < 0 {
			return "", &serverFault{at: 0, kind: faultBrackets}
		}
		inside := v[1:end]
		a, err := netip.ParseAddr(inside)
		if err != nil || !a.Is6() {
			return "", &serverFault{at: 1, kind: faultBrackets}
		}
		if a.Zone() != "" {
			return "", &serverFault{at: 1 + strings.IndexByte(inside, '%'), kind: faultZone}
		}
		if rest := v[end+1:]; rest != "" {
			if rest[0] == ':' {
				return "", portFault(v, end+1)
			}
			return "", &serverFault{at: end + 1, kind: faultBrackets}
		}
		return inside, nil
	}
	if i := strings.IndexByte(v, ':'); i >= 0 {
		a, err := netip.ParseAddr(v)
		switch {
		case err == nil && a.Zone() != "":
			return "", &serverFault{at: strings.IndexByte(v, '%'), kind: faultZone}
		case err == nil:
			return v, nil
		}
		last := strings.LastIndexByte(v, ':')
		if i == last || validIPv6(v[:last]) {
			// host:port, or an IPv6 address followed by :port
			return "", portFault(v, last)
		}
		return "", &serverFault{at: i, kind: faultChar, c: "':'"}
	}
	return v, checkHostName(v)
}

func validIPv6(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is6() && a.Zone() == ""
}

// portFault reports the ':' at colon; the port is named in the fix when it
// is a plausible port number.
func portFault(v string, colon int) *serverFault {
	f := &serverFault{at: colon, kind: faultPort}
	if p := v[colon+1:]; p != "" && len(p) <= 5 && allDigits(p) {
		f.port = p
	}
	return f
}

// checkHostName checks a value with no ':' as a host name or an IPv4 address.
func checkHostName(v string) *serverFault {
	name := strings.TrimSuffix(v, ".")
	if len(name) > 253 {
		return &serverFault{at: 253, kind: faultTooLong}
	}
	start, last := 0, "" // the current label's start; the last label
	for i := 0; i <= len(name); i++ {
		if i == len(name) || name[i] == '.' {
			last = name[start:i]
			if last == "" || len(last) > 63 || last[0] == '-' || last[len(last)-1] == '-' {
				return &serverFault{at: start, kind: faultLabel}
			}
			start = i + 1
			continue
		}
		c := name[i]
		switch {
		case 'a' <= lower(c) && lower(c) <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
		case c >= 0x80:
			return &serverFault{at: i, kind: faultNonASCII}
		default:
			return &serverFault{at: i, kind: faultChar, c: "'" + string(c) + "'"}
		}
	}
	// The last label decides: a number there makes the whole an IPv4
	// address (as URL parsers read it), which must then be a valid one.
	if allDigits(last) || len(last) >= 2 && last[0] == '0' && lower(last[1]) == 'x' {
		if a, err := netip.ParseAddr(v); err != nil || !a.Is4() {
			return &serverFault{at: 0, kind: faultNotIPv4}
		}
	}
	return nil
}

// plainName reports whether v holds only the bytes of a host name or an
// IPv4 address, the common case, which needs only checkHostName.
func plainName(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('a' <= lower(c) && lower(c) <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// host returns c.Server as AEP and libpq take it: a bracketed IPv6
// literal gives the address inside (Parse and FromBasicAuth already
// return it so; a Conn built by hand may not).
func (c Conn) host() string {
	if len(c.Server) > 0 && c.Server[0] == '[' {
		if h, f := checkServer(c.Server); f == nil {
			return h
		}
	}
	return c.Server
}
