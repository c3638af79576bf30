package connstr

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// basicAuthMembers are the params of AEP's basic authentication, as JSON
// names them.
var basicAuthMembers = [...]string{"server", "port", "database", "username", "password", "sslMode"}

// parseJSON reads AEP's basic authentication as JSON: the auth object
// ({"specName": "Basic Authentication", "params": {…}}) or its params alone
// ({"server": …, "port": "5432", …, "sslMode": …}). Every value is a string,
// as Flow Service takes them; a member that is not a param is an error, not
// dropped. Properties are the params as written, with their offsets.
func parseJSON(s string) (*Parsed, error) {
	r := &jsonAuth{s: s, dec: json.NewDecoder(strings.NewReader(s)), p: &Parsed{Format: FormatJSON}, seen: map[string]*Property{}}
	if err := r.object(true); err != nil {
		return nil, err
	}
	if _, err := r.dec.Token(); !errors.Is(err, io.EOF) {
		return nil, &ParseError{Offset: int(r.dec.InputOffset()), Msg: "text after the JSON object"}
	}
	if len(r.p.Properties) == 0 {
		return nil, &ParseError{Offset: 0, Msg: "no basic authentication param (server, port, database, username, password, sslMode)"}
	}
	conn, warns, err := FromBasicAuth(r.b)
	if err != nil {
		var fe FieldError
		if errors.As(err, &fe) {
			if pr, ok := r.seen[fe.Field]; ok {
				return nil, &ParseError{Offset: pr.ValueOffset, Key: pr.Key, Msg: fe.Message}
			}
		}
		return nil, &ParseError{Offset: -1, Msg: strings.TrimPrefix(err.Error(), "connstr: ")}
	}
	if conn.fieldsEmpty() { // every param empty, as {"sslMode": ""}: nothing to connect to
		pr := &r.p.Properties[0]
		return nil, &ParseError{Offset: pr.ValueOffset, Key: pr.Key, Msg: "every basic authentication param is empty: nothing to connect to"}
	}
	r.p.Conn, r.p.Warnings = conn, warns
	return r.p, nil
}

// jsonAuth reads the JSON of AEP's basic authentication into p (the
// params as properties) and b (the params as BasicAuth).
type jsonAuth struct {
	s    string
	dec  *json.Decoder
	p    *Parsed
	b    BasicAuth
	seen map[string]*Property // by member name
}

// object reads one JSON object: the auth object at the top (top), whose
// specName is checked and whose params object is read in turn, or the
// params.
func (r *jsonAuth) object(top bool) error {
	if err := expectDelim(r.dec, r.s, '{'); err != nil {
		return err
	}
	for r.dec.More() {
		off := jsonTokenOffset(r.s, int(r.dec.InputOffset()))
		tok, err := r.dec.Token()
		if err != nil {
			return jsonError(r.s, r.dec, err)
		}
		key, _ := tok.(string)
		switch {
		case top && key == "params":
			err = r.object(false)
		case top && key == "specName":
			err = r.specName(off, key)
		default:
			err = r.param(off, key)
		}
		if err != nil {
			return err
		}
	}
	return expectDelim(r.dec, r.s, '}')
}

// specName checks that the auth object is basic authentication's.
func (r *jsonAuth) specName(off int, key string) error {
	var name string
	if err := r.dec.Decode(&name); err != nil {
		return &ParseError{Offset: off, Key: key, Msg: "specName must be a string"}
	}
	if name != BasicAuthSpecName {
		return &ParseError{Offset: off, Key: key, Msg: fmt.Sprintf("specName is %q: flowpg reads %q as JSON", name, BasicAuthSpecName)}
	}
	return nil
}

// param reads the value of the member key, at offset off, which must be
// one of basic authentication's params, given once, as a string.
func (r *jsonAuth) param(off int, key string) error {
	member := ""
	for _, m := range basicAuthMembers {
		if key == m {
			member = m
		}
	}
	if member == "" {
		return &ParseError{Offset: off, Key: key, Msg: "not a member of AEP's basic authentication (server, port, database, username, password, sslMode)"}
	}
	if prev, ok := r.seen[member]; ok {
		return &ParseError{Offset: off, Key: key, Msg: fmt.Sprintf("repeated member: at offset %d and %d", prev.Offset, off)}
	}
	valOff := jsonTokenOffset(r.s, int(r.dec.InputOffset()))
	var v string
	if err := r.dec.Decode(&v); err != nil {
		// The value is not echoed: it may be the password.
		return &ParseError{Offset: off, Key: key, Msg: "must be a JSON string, as Flow Service takes every param"}
	}
	r.p.Properties = append(r.p.Properties, Property{Key: key, Value: v, Offset: off, ValueOffset: valOff})
	r.seen[member] = &r.p.Properties[len(r.p.Properties)-1]
	switch member {
	case "server":
		r.b.Server = v
	case "port":
		r.b.Port = v
	case "database":
		r.b.Database = v
	case "username":
		r.b.Username = v
	case "password":
		r.b.Password = v
	case "sslMode":
		r.b.SSLMode = v
	}
	return nil
}

// expectDelim reads the delimiter want.
func expectDelim(dec *json.Decoder, s string, want json.Delim) error {
	off := int(dec.InputOffset())
	tok, err := dec.Token()
	if err != nil {
		return jsonError(s, dec, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return &ParseError{Offset: jsonTokenOffset(s, off), Msg: fmt.Sprintf("expected %q in AEP's basic authentication JSON", string(want))}
	}
	return nil
}

// jsonError turns a decoder failure into a ParseError at its offset.
// encoding/json's syntax errors quote the offending character, which may be
// a password's (a '"' left unescaped ends the value early, and the next
// character is the one quoted), so only the offset is kept.
func jsonError(s string, dec *json.Decoder, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return &ParseError{Offset: int(se.Offset), Msg: `not valid JSON here (inside a string, write " as \" and \ as \\)`}
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return &ParseError{Offset: len(s), Msg: "the JSON ends too soon"}
	}
	return &ParseError{Offset: int(dec.InputOffset()), Msg: "not valid JSON"}
}

// jsonTokenOffset skips the whitespace and separators the decoder has not
// consumed, to the offset of the next token.
func jsonTokenOffset(s string, off int) int {
	b := []byte(s)
	for off < len(b) && bytes.IndexByte([]byte(" \t\r\n,:"), b[off]) >= 0 {
		off++
	}
	return off
}
