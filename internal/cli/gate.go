package cli

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/flowpg/flowpg/connstr"
	"github.com/flowpg/flowpg/flowclient"
	"github.com/flowpg/flowpg/preflight"
)

// GateFlags are the pre-flight's flags that check and connect share. They
// decide what the gate checks: the sslMode the registration sends (auth spec
// and vocabulary), the roots and networks Adobe is assumed to have.
type GateFlags struct {
	Timeout             time.Duration `default:"15s" help:"Time limit for the pre-flight, audit included."`
	CAFile              string        `name:"ca-file" type:"path" placeholder:"PEM" help:"CA certificates to verify the server with, instead of the system roots. Adobe will not have them: basic auth carries no CA."`
	AssumeAdobeTrustsCA bool          `name:"assume-adobe-trusts-ca" help:"State that Adobe trusts the --ca-file CA, so that a chain only it verifies is not a failure."`
	Region              string        `placeholder:"REGION" help:"Your AEP region (va7, nld2, aus5, can2, ind2, va6): name the addresses the database must admit."`
	Table               []string      `name:"table" sep:"none" placeholder:"SCHEMA.NAME" help:"A table or view that must be readable (repeatable; a bare name means public.NAME)."`
	PinSHA256           []string      `name:"pin-sha256" sep:"none" placeholder:"HEX" help:"SHA-256 fingerprint of a certificate the server's chain must contain (repeatable)."`

	// roots is --ca-file's pool, read once by validate: every target of a
	// batch is checked against the same roots, and the file is not read
	// again for each.
	roots      *x509.CertPool
	rootsFound bool
}

// RegisterFlags choose how a new connection is registered: the auth spec,
// and the sslMode vocabulary when the live connection spec cannot be read.
// They decide the sslMode Adobe receives, and so the mode the gate checks.
type RegisterFlags struct {
	Auth         string `default:"basic" enum:"basic,connection-string" help:"Auth spec the connection is registered with: basic (Basic Authentication) or connection-string (Connection String Based Authentication). It decides the sslMode Adobe receives, and so the mode checked."`
	SSLModeStyle string `name:"ssl-mode-style" enum:"tutorial,overview" default:"tutorial" help:"sslMode vocabulary of basic auth when the live connection spec cannot be read: tutorial (no Require: Require is sent, and checked, as Verify Ca) or overview."`
}

// specName is the auth spec --auth names.
func (g *RegisterFlags) specName() string {
	if g.Auth == "connection-string" {
		return connstr.ConnectionStringSpecName
	}
	return connstr.BasicAuthSpecName
}

// offlineVocabulary is the sslMode vocabulary of --ssl-mode-style, for when
// no live connection spec is read.
func (g *RegisterFlags) offlineVocabulary() (connstr.Vocabulary, string, error) {
	style, err := connstr.ParseSSLModeStyle(g.SSLModeStyle)
	if err != nil {
		return connstr.Vocabulary{}, "", err
	}
	if style == connstr.StyleOverview {
		return connstr.VocabularyOf(style), "the connector overview's list", nil
	}
	return connstr.VocabularyOf(style), "the API tutorial's list", nil
}

// region returns the --region's allow list entry; nil without --region.
func (g *GateFlags) region() (*flowclient.Region, error) {
	if g.Region == "" {
		return nil, nil
	}
	r, err := lookupRegion(g.Region)
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// lookupRegion finds an AEP region in the allow list, or says which exist.
func lookupRegion(name string) (flowclient.Region, error) {
	l := flowclient.AdobeAllowList()
	r, ok := l.Region(name)
	if !ok {
		return r, fmt.Errorf("--region: unknown AEP region %q (known: %s)", name, strings.Join(l.Names(), ", "))
	}
	return r, nil
}

// validate checks the gate's flags on their own, so that a command can
// refuse them before any work; each error names its flag.
func (g *GateFlags) validate() error {
	if _, err := g.region(); err != nil {
		return err
	}
	if g.Timeout <= 0 {
		return fmt.Errorf("--timeout must be positive, not %s", g.Timeout)
	}
	if !g.rootsFound {
		roots, err := loadCAFile(g.CAFile)
		if err != nil {
			return err
		}
		g.roots, g.rootsFound = roots, true
	}
	for _, p := range g.PinSHA256 {
		if !preflight.ValidPin(p) {
			return fmt.Errorf("--pin-sha256 %q is not a hex SHA-256 fingerprint (64 hex digits, optionally separated by ':')", p)
		}
	}
	for _, t := range g.Table {
		if !preflight.ValidTable(t) {
			return fmt.Errorf("--table %q names no table: want SCHEMA.NAME, or NAME for a table in public", t)
		}
	}
	return nil
}

// options are the pre-flight's options for reg. forAdobe is connect's gate:
// what only Adobe meets (an address it cannot reach, a CA it does not
// have) fails rather than warns, unless the user said otherwise.
func (g *GateFlags) options(streams *IO, reg registration, warns []connstr.Warning, forAdobe, allowPrivateAddress bool) (preflight.Options, error) {
	// The commands' Validate has run validate already, before any
	// goroutine of a batch calls this; it reads no file a second time.
	if err := g.validate(); err != nil {
		return preflight.Options{}, err
	}
	opts := preflight.Options{
		Timeout:       g.Timeout,
		RootCAs:       g.roots,
		Tables:        g.Table,
		PinSHA256:     g.PinSHA256,
		InputWarnings: warns,
		SSLMode:       reg.Mode,
		SSLModeReason: reg.reason(),
		OfferedModes:  reg.Offered,
		Dialer:        streams.dialer,
		Resolver:      streams.resolver,
	}
	if forAdobe {
		opts.PrivateAddress, opts.PrivateCA = preflight.PolicyFail, preflight.PolicyFail
	}
	if allowPrivateAddress {
		opts.PrivateAddress = preflight.PolicyAccept
	}
	if g.AssumeAdobeTrustsCA {
		opts.PrivateCA = preflight.PolicyAccept
	}
	r, err := g.region()
	if err != nil {
		return preflight.Options{}, err
	}
	if r != nil {
		opts.ClientNetworks = r.Ranges
		opts.ClientNetworksName = fmt.Sprintf("AEP's %s addresses (%s)", r.Name, prefixCount(r.Ranges))
	}
	return opts, nil
}

// maxCAFile bounds a --ca-file: a system bundle of every public root is a
// few hundred kilobytes.
const maxCAFile = 8 << 20

// loadCAFile reads the PEM CA certificates of --ca-file into a pool; nil
// for no file (the system roots). The read is bounded: a path to /dev/zero
// or to a huge file by mistake ends in an error, not in all the memory
// there is. The file is opened non-blocking, so that a named pipe no one
// writes to reads as empty rather than hanging the command before it can
// be interrupted; a pipe that is written to (a shell's <(…)) reads as
// usual.
func loadCAFile(path string) (*x509.CertPool, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, caFileError(path, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxCAFile+1))
	if err != nil {
		return nil, caFileError(path, err)
	}
	if len(b) > maxCAFile {
		return nil, fmt.Errorf("--ca-file %q is over %d MiB: not a file of CA certificates", path, maxCAFile>>20)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("--ca-file %q holds no PEM certificate", path)
	}
	return pool, nil
}

// caFileError names --ca-file and its path quoted: a path may hold line
// breaks or escapes that would otherwise reach the terminal as they are.
func caFileError(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("--ca-file %q: %w", path, err)
}

func prefixCount(ps []netip.Prefix) string {
	if len(ps) == 1 {
		return "1 range"
	}
	return fmt.Sprintf("%d ranges", len(ps))
}

// gate runs the pre-flight for Adobe: in the mode reg makes Adobe dial, with
// what only Adobe meets (its network, its roots) counted as failures. Only
// warnings that the registration weakens the string reach the input stage.
//
// progress, when not nil, streams the report (preflight.Options.Progress).
func (g *GateFlags) gate(ctx context.Context, streams *IO, conn connstr.Conn, reg registration, warns []connstr.Warning, allowPrivateAddress bool, progress func(preflight.Event)) (*preflight.Report, error) {
	opts, err := g.options(streams, reg, append(warns, weakened(reg.Warnings)...), true, allowPrivateAddress)
	if err != nil {
		return nil, err
	}
	opts.Progress = progress
	return runPreflight(ctx, conn, opts), nil
}
