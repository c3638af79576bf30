package connstr

import (
	"fmt"
	"strings"
)

// Npgsql-only fields.
const (
	fSSLMode         = nDDFields
	fTrustServerCert = nDDFields + 1
	nFields          = nDDFields + 2
)

// npgsqlAliases are Npgsql's keys, lowercase and without spaces; a key
// matches ignoring case and spaces.
var npgsqlAliases = [...]alias{
	{key: "host", f: fServer},
	{key: "server", f: fServer},
	{key: "port", f: fPort},
	{key: "database", f: fDatabase},
	{key: "db", f: fDatabase},
	{key: "username", f: fUser},
	{key: "userid", f: fUser},
	{key: "user", f: fUser},
	{key: "uid", f: fUser},
	{key: "password", f: fPassword},
	{key: "pwd", f: fPassword},
	{key: "sslmode", f: fSSLMode},
	{key: "trustservercertificate", f: fTrustServerCert},
}

// npgsqlOnly are keys (lowercase, no spaces) that mark a string as Npgsql.
var npgsqlOnly = [...]string{
	"sslmode", "trustservercertificate", "rootcertificate", "sslcertificate",
	"sslkey", "sslpassword", "searchpath", "commandtimeout", "pooling",
	"minpoolsize", "maxpoolsize", "connectionidlelifetime", "includeerrordetail",
	"servercompatibilitymode", "sslnegotiation", "gssencryptionmode",
}

func lookupNpgsql(key string) *alias {
	for i := range npgsqlAliases {
		if foldEqNoSpace(key, npgsqlAliases[i].key) {
			return &npgsqlAliases[i]
		}
	}
	return nil
}

// looksNpgsql applies the detection rule of Parse's doc comment.
func looksNpgsql(props []Property) bool {
	host, user, ddOnly := false, false, false
	for i := range props {
		k := props[i].Key
		if a := lookupDD(k); a != nil {
			ddOnly = ddOnly || a.ddOnly
			host = host || a.f == fServer && len(k) == 4 // Host
			user = user || a.f == fUser && len(k) == 8   // Username
			continue
		}
		if isNpgsqlOnly(k) {
			return true
		}
	}
	return host && user && !ddOnly
}

func isNpgsqlOnly(k string) bool {
	for _, o := range npgsqlOnly {
		if foldEqNoSpace(k, o) {
			return true
		}
	}
	return false
}

// interpretNpgsql reads Npgsql properties into p: the keys both forms
// know into Conn's fields, and SSL Mode into DataDirect's TLS keys
// (Conn.SetSSLMode), Npgsql's default, Prefer, when none is given. Trust
// Server Certificate changes nothing that sslMode can carry: it is only
// checked against a verifying SSL Mode, which it contradicts.
func interpretNpgsql(p *Parsed, s string) (*Parsed, error) {
	p.Format = FormatNpgsql
	props := p.Properties
	var seen [nFields]int
	var index map[string]int
	mode, trust := SSLModeUnset, false
	for i := range props {
		pr := &props[i]
		a := lookupNpgsql(pr.Key)
		if a == nil {
			if dd := lookupDD(pr.Key); dd != nil && dd.ddOnly && dd.f >= fEncryption {
				return nil, &ParseError{Offset: pr.Offset, Key: pr.Key, Msg: "a DataDirect TLS key cannot be mixed with Npgsql's SSL Mode; use one form"}
			}
			if err := addExtra(p, props, i, "Npgsql", &index); err != nil {
				return nil, err
			}
			continue
		}
		if seen[a.f] != 0 {
			return nil, dupError(&props[seen[a.f]-1], pr)
		}
		seen[a.f] = i + 1
		switch a.f {
		case fSSLMode:
			m, err := ParseSSLMode(pr.Value)
			if err != nil || m == SSLModeUnset || strings.EqualFold(pr.Value, "true") || strings.EqualFold(pr.Value, "false") {
				return nil, &ParseError{Offset: pr.ValueOffset, Key: pr.Key, Msg: fmt.Sprintf("SSL Mode %q is not Disable, Allow, Prefer, Require, VerifyCA or VerifyFull", pr.Value)}
			}
			mode = m
		case fTrustServerCert:
			switch strings.ToLower(pr.Value) {
			case "true":
				trust = true
			case "false":
			default:
				return nil, &ParseError{Offset: pr.ValueOffset, Key: pr.Key, Msg: fmt.Sprintf("Trust Server Certificate %q must be true or false", pr.Value)}
			}
		default:
			if err := setField(&p.Conn, a.f, pr, s); err != nil {
				return nil, err
			}
		}
	}
	if seen == [nFields]int{} {
		return nil, nothingKnown(props, -1)
	}
	if trust && mode >= SSLVerifyCA {
		pr := &props[seen[fTrustServerCert]-1]
		return nil, &ParseError{Offset: pr.Offset, Key: pr.Key, Msg: "Trust Server Certificate=true contradicts a verifying SSL Mode"}
	}
	if mode == SSLModeUnset {
		mode = SSLPrefer
		p.Warnings = append(p.Warnings, Warning{Code: WarnNpgsqlDefaultSSLMode, Field: "sslMode",
			Message: "no SSL Mode: using Npgsql's default, Prefer (TLS if offered, else plaintext, no verification)"})
	}
	p.Warnings = append(p.Warnings, p.Conn.SetSSLMode(mode)...)
	return p, nil
}
