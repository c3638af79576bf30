package cli

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/flowpg/flowpg/connstr"
	"github.com/flowpg/flowpg/flowclient"
	"github.com/flowpg/flowpg/internal/printable"
)

// registration is what a base connection registers with Flow Service, and
// what that means on Adobe's side: the auth params, and the sslMode Adobe
// will dial in. The gate checks Mode, not the mode the connection string
// asks for, because Mode is what Adobe does.
type registration struct {
	SpecName string
	Params   flowclient.Params
	// SSLMode is the sslMode value sent with basic auth; "" with
	// connection-string auth, where Adobe's driver reads the string's own
	// TLS keys.
	SSLMode string
	// Mode is what Adobe will dial in, in libpq's terms.
	Mode connstr.SSLMode
	// Asked is the mode the connection string's own TLS keys map to.
	Asked connstr.SSLMode
	// Vocabulary names where the sslMode values came from: the live
	// connection spec or an offline list.
	Vocabulary string
	// Offered are the modes the registration can express, weakest first.
	Offered  []connstr.SSLMode
	Warnings []connstr.Warning
}

// registrationInfo is a registration in connect's JSON.
type registrationInfo struct {
	SpecName         string `json:"specName"`
	SSLMode          string `json:"sslMode,omitempty"`
	CheckedSSLMode   string `json:"checkedSslMode"`
	RequestedSSLMode string `json:"requestedSslMode"`
	Vocabulary       string `json:"vocabulary,omitempty"`
}

// newRegistration resolves what conn registers as with auth spec spec, the
// sslMode spelled in vocab (which came from source).
func newRegistration(conn connstr.Conn, spec string, vocab connstr.Vocabulary, source string) (registration, error) {
	asked, _ := conn.SSLMode()
	reg := registration{SpecName: spec, Asked: asked}
	if spec == connstr.ConnectionStringSpecName {
		// Adobe's driver reads the DataDirect keys themselves.
		s, warns := connstr.Build(conn)
		reg.Params = flowclient.Params{"connectionString": s}
		reg.Mode, reg.Warnings = asked, warns
		return reg, nil
	}
	b, sent, warns := conn.BasicAuthIn(vocab)
	if sent.Mode == connstr.SSLModeUnset {
		return registration{}, fmt.Errorf("no sslMode value to send: %s lists none flowpg knows", source)
	}
	reg.Params = flowclient.Params{"server": b.Server, "port": b.Port, "database": b.Database,
		"username": b.Username, "password": b.Password, "sslMode": b.SSLMode}
	reg.SSLMode, reg.Mode, reg.Vocabulary, reg.Warnings = b.SSLMode, sent.Mode, source, warns
	for m := connstr.SSLDisable; m <= connstr.SSLVerifyFull; m++ {
		if vocab.Offers(m) {
			reg.Offered = append(reg.Offered, m)
		}
	}
	return reg, nil
}

// reason says why the gate checks Mode, for the pre-flight's input stage.
func (r registration) reason() string {
	if r.SpecName == connstr.ConnectionStringSpecName {
		return "as AEP's driver reads the connection string"
	}
	return fmt.Sprintf("sslMode %q as registered with basic authentication", r.SSLMode)
}

// info is r for JSON.
func (r registration) info() *registrationInfo {
	return &registrationInfo{SpecName: r.SpecName, SSLMode: r.SSLMode, CheckedSSLMode: r.Mode.LibPQ(),
		RequestedSSLMode: r.Asked.LibPQ(), Vocabulary: r.Vocabulary}
}

// liveVocabulary reads the sslMode values of the live connection spec's
// basic auth. A spec that types sslMode as a boolean is the "true"/"false"
// vocabulary; one that lists no values falls back to fallback.
func liveVocabulary(ctx context.Context, client *flowclient.Client, fallback connstr.Vocabulary, fallbackSource string) (connstr.Vocabulary, string, error) {
	spec, err := client.GetConnectionSpec(ctx, flowclient.PostgreSQLSpecID)
	if err != nil {
		return connstr.Vocabulary{}, "", err
	}
	a, ok := spec.FindAuthSpec(connstr.BasicAuthSpecName)
	if !ok {
		return connstr.Vocabulary{}, "", fmt.Errorf("the live connection spec has no %q auth spec", connstr.BasicAuthSpecName)
	}
	p := a.Spec.Properties["sslMode"]
	switch {
	case strings.EqualFold(p.Type, "boolean") && len(p.Enum) == 0:
		return connstr.BooleanVocabulary(), "the live connection spec (sslMode is a boolean)", nil
	case len(p.Enum) > 0:
		v := connstr.NewVocabulary(p.Enum)
		if len(v.Values()) == 0 {
			return connstr.Vocabulary{}, "", fmt.Errorf("the live connection spec's sslMode values (%s) are none flowpg knows", strings.Join(p.Enum, ", "))
		}
		if v.Boolean() {
			return v, "the live connection spec (sslMode is a boolean)", nil
		}
		return v, "the live connection spec", nil
	}
	return fallback, fallbackSource + " (the live connection spec lists no sslMode values)", nil
}

// fieldDiff is one registered field that differs between a stored
// connection and what this run would register.
type fieldDiff struct {
	Field   string `json:"field"`
	Stored  string `json:"stored"`
	ThisRun string `json:"thisRun"`
}

// compareStored compares what reg registers with a stored connection: auth
// spec, server, port, database, username and sslMode (by meaning, not
// spelling). It returns the differences, and the fields it could not compare
// because Flow Service masks them (always the password).
func compareStored(reg registration, stored flowclient.Connection) ([]fieldDiff, []string) {
	if stored.Auth.SpecName != reg.SpecName {
		return []fieldDiff{{Field: "auth spec", Stored: stored.Auth.SpecName, ThisRun: reg.SpecName}},
			[]string{"the params of a different auth spec"}
	}
	want, ok := registeredFields(reg.SpecName, reg.Params)
	if !ok {
		return nil, []string{"server", "port", "database", "username", "password", "sslMode"}
	}
	got, ok := registeredFields(stored.Auth.SpecName, stored.Auth.Params)
	if !ok {
		// A connection string is one secret param: Flow Service masks it whole.
		return nil, []string{"server", "port", "database", "username", "password", "sslMode (Flow Service masks the whole connection string)"}
	}
	var diffs []fieldDiff
	add := func(field, stored, thisRun string, same bool) {
		if !same {
			diffs = append(diffs, fieldDiff{Field: field, Stored: stored, ThisRun: thisRun})
		}
	}
	add("server", got.Server, want.Server, strings.EqualFold(got.Server, want.Server))
	add("port", strconv.Itoa(got.PortOrDefault()), strconv.Itoa(want.PortOrDefault()), got.PortOrDefault() == want.PortOrDefault())
	add("database", got.Database, want.Database, got.Database == want.Database)
	add("username", got.User, want.User, got.User == want.User)
	gm, _ := got.SSLMode()
	wm, _ := want.SSLMode()
	storedMode, thisMode := gm.LibPQ(), wm.LibPQ()
	if reg.SpecName == connstr.BasicAuthSpecName {
		storedMode, thisMode = stored.Auth.Params["sslMode"], reg.SSLMode
	}
	add("sslMode", storedMode, thisMode, gm == wm)
	return diffs, []string{"password"}
}

// registeredFields reads the connection that auth params register, without
// the password (which a stored connection masks).
func registeredFields(spec string, params flowclient.Params) (connstr.Conn, bool) {
	switch spec {
	case connstr.BasicAuthSpecName:
		c, _, err := connstr.FromBasicAuth(connstr.BasicAuth{Server: params["server"], Port: params["port"],
			Database: params["database"], Username: params["username"], SSLMode: params["sslMode"]})
		return c, err == nil
	case connstr.ConnectionStringSpecName:
		p, err := connstr.Parse(params["connectionString"])
		if err != nil {
			return connstr.Conn{}, false
		}
		return p.Conn, true
	}
	return connstr.Conn{}, false
}

// writeDiffs writes differences as a small table.
func writeDiffs(b *strings.Builder, diffs []fieldDiff) {
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  field\tstored\tthis run")
	for _, d := range diffs {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", d.Field, printable.Line(d.Stored), printable.Line(d.ThisRun))
	}
	_ = tw.Flush()
}

// verifyHint explains why Adobe may fail to use a connection that passed the
// pre-flight here, from what differs between here and there: the network
// Adobe dials from and, when the registered mode verifies the certificate
// (or when the mode cannot be read, as with a masked connection string),
// the roots Adobe trusts.
//
// afterGate says that the pre-flight has just passed with these credentials.
// Without it (connections test), the stored credentials come first: a
// rotated password is the commonest reason a working connection stops.
func verifyHint(mode connstr.SSLMode, known bool, region *flowclient.Region, afterGate bool, name string) string {
	l := flowclient.AdobeAllowList()
	var b strings.Builder
	if afterGate {
		b.WriteString("Flow Service could not use the connection although the pre-flight passed from here. ")
	} else {
		fmt.Fprintf(&b, "Flow Service could not use the stored connection. The credentials: if the database password was rotated since it was registered, run flowpg connections update %s, which checks the new one first. ", shellWord(name))
	}
	if region != nil {
		ranges := make([]string, len(region.Ranges))
		for i, p := range region.Ranges {
			ranges[i] = p.String()
		}
		fmt.Fprintf(&b, "The network: the database's firewall and pg_hba.conf must admit AEP's %s addresses (%s; as of %s, see %s).",
			region.Name, strings.Join(ranges, ", "), l.AsOf, l.Source)
	} else {
		fmt.Fprintf(&b, "The network: the database's firewall and pg_hba.conf must admit Adobe's addresses for your region (flowpg allowlist --region REGION lists them; see %s).", l.Source)
	}
	switch {
	case !known:
		b.WriteString(" Trust: if the stored sslMode verifies the certificate, Adobe verifies it against publicly trusted roots only; a certificate from a private CA or a self-signed one fails there even when a CA file made it pass here.")
	case mode >= connstr.SSLVerifyCA:
		fmt.Fprintf(&b, " Trust: Adobe verifies the certificate (it dials %s) against publicly trusted roots only; a certificate from a private CA or a self-signed one fails there even when a CA file made it pass here.", mode.LibPQ())
	}
	return b.String()
}

// shellWord quotes s for a POSIX shell when it needs it.
func shellWord(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
