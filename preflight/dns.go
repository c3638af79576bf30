package preflight

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// DNSDetails are the findings of the dns stage.
type DNSDetails struct {
	Host      string   `json:"host"`
	IPLiteral bool     `json:"ipLiteral,omitempty"`
	A         []string `json:"a,omitempty"`
	AAAA      []string `json:"aaaa,omitempty"`
	// Errors holds per-family lookup failures when the other family answered.
	Errors map[string]string `json:"errors,omitempty"`
}

// resolve looks up A and AAAA records in parallel. An IP literal needs no
// lookup. It returns the addresses, IPv4 first, and the dns stage result.
func (r *runner) resolve(ctx context.Context) ([]netip.Addr, Result) {
	start := time.Now()
	res := Result{ID: StageDNS}
	d := &DNSDetails{Host: r.host}
	res.Details = d
	if ip, err := netip.ParseAddr(r.host); err == nil {
		d.IPLiteral = true
		ip = ip.Unmap()
		if ip.Is4() {
			d.A = []string{ip.String()}
		} else {
			d.AAAA = []string{ip.String()}
		}
		res.Status, res.Message = Pass, "no lookup needed: server is an IP address"
		return []netip.Addr{ip}, res
	}

	var (
		wg         sync.WaitGroup
		v4, v6     []netip.Addr
		err4, err6 error
	)
	wg.Add(2)
	go func() { defer wg.Done(); v4, err4 = r.opts.Resolver.LookupNetIP(ctx, "ip4", r.host) }()
	go func() { defer wg.Done(); v6, err6 = r.opts.Resolver.LookupNetIP(ctx, "ip6", r.host) }()
	wg.Wait()
	res.Duration = time.Since(start)
	r.timings.DNS = res.Duration

	v4, v6 = uniqueUnmapped(v4), uniqueUnmapped(v6)
	for _, a := range v4 {
		d.A = append(d.A, a.String())
	}
	for _, a := range v6 {
		d.AAAA = append(d.AAAA, a.String())
	}
	addrs := append(append([]netip.Addr(nil), v4...), v6...)

	if len(addrs) == 0 && r.interrupted() {
		res = interruptedStage(StageDNS)
		return nil, res
	}
	if len(addrs) == 0 {
		res.Status, res.Field = Fail, FieldServer
		err := firstErr(err4, err6)
		res.Message, res.Remediation = explainDNS(r.host, err)
		if isDNSTimeout(err) {
			res.Kind = KindTimeout
			res.Remediation += "; " + r.timeoutFix()
			res.Option = OptionTimeout
		}
		return nil, res
	}
	for fam, err := range map[string]error{"A": err4, "AAAA": err6} {
		if err != nil && !isNotFound(err) {
			if d.Errors == nil {
				d.Errors = map[string]string{}
			}
			msg, _ := explainDNS(r.host, err)
			d.Errors[fam] = msg
		}
	}
	switch {
	case len(v4) == 0:
		res.Status, res.Field = Warn, FieldServer
		res.Message = fmt.Sprintf("%s resolves only to IPv6 (%s)", r.host, strings.Join(d.AAAA, ", "))
		res.Remediation = "AEP's IPv6 reach is not documented: publish an A record (IPv4) for the server as well"
	default:
		res.Status = Pass
		res.Message = fmt.Sprintf("%s resolves to %s", r.host, strings.Join(append(append([]string(nil), d.A...), d.AAAA...), ", "))
	}
	return addrs, res
}

// explainDNS words a lookup failure; the second value is the remediation.
func explainDNS(host string, err error) (string, string) {
	var dnsErr *net.DNSError
	switch {
	case err == nil:
		return fmt.Sprintf("%s has no A or AAAA record", host), "check the spelling of server; it must be the public DNS name or IP address of the database"
	case isDNSTimeout(err):
		return fmt.Sprintf("looking up %s timed out", host), "check this machine's DNS resolver, then retry"
	case isNotFound(err):
		return fmt.Sprintf("%s does not exist in DNS (NXDOMAIN)", host), "check the spelling of server; it must be the public DNS name or IP address of the database"
	case errors.As(err, &dnsErr) && dnsErr.IsTemporary:
		return fmt.Sprintf("looking up %s failed temporarily", host), "retry; if it persists, check this machine's DNS resolver"
	default:
		return fmt.Sprintf("looking up %s failed", host), "check this machine's DNS resolver and the spelling of server"
	}
}

func isDNSTimeout(err error) bool {
	var dnsErr *net.DNSError
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &dnsErr) && dnsErr.IsTimeout)
}

func isNotFound(err error) bool {
	var dnsErr *net.DNSError
	return errors.As(err, &dnsErr) && dnsErr.IsNotFound
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil && !isNotFound(e) {
			return e
		}
	}
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func uniqueUnmapped(in []netip.Addr) []netip.Addr {
	var out []netip.Addr
	seen := map[netip.Addr]bool{}
	for _, a := range in {
		a = a.Unmap()
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out
}
