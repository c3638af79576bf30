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
// as Flow Service takes them; a member flowpg does not know is an error, not
// dropped. Properties are the params as written, with their offsets.
func parseJSON(s string) (*Parsed, error) {
	p := &Parsed{Format: FormatJSON}
	dec := json.NewDecoder(strings.NewReader(s))
	var b BasicAuth
	seen := map[string]*Property{}
	var readObject func(top bool) error
	readObject = func(top bool) error {
		if err := expectDelim(dec, s, '{'); err != nil {
			return err
		}
		for dec.More() {
			off := jsonTokenOffset(s, int(dec.InputOffset()))
			tok, err := dec.Token()
			if err != nil {
				return jsonError(s, dec, err)
			}
			key, _ := tok.(string)
			switch {
			case top && key == "params":
				if err := readObject(false); err != nil {
					return err
				}
				continue
			case top && key == "specName":
				var name string
				if err := dec.Decode(&name); err != nil {
					return &ParseError{Offset: off, Key: key, Msg: "specName must be a string"}
				}
				if name != BasicAuthSpecName {
					return &ParseError{Offset: off, Key: key, Msg: fmt.Sprintf("specName is %q: flowpg reads %q as JSON", name, BasicAuthSpecName)}
				}
				continue
			}
			member := ""
			for _, m := range basicAuthMembers {
				if key == m {
					member = m
				}
			}
			if member == "" {
				return &ParseError{Offset: off, Key: key, Msg: "not a member of AEP's basic authentication (server, port, database, username, password, sslMode)"}
			}
			if prev, ok := seen[member]; ok {
				return &ParseError{Offset: off, Key: key, Msg: fmt.Sprintf("repeated member: at offset %d and %d", prev.Offset, off)}
			}
			valOff := jsonTokenOffset(s, int(dec.InputOffset()))
			var v string
			if err := dec.Decode(&v); err != nil {
				// The value is not echoed: it may be the password.
				return &ParseError{Offset: off, Key: key, Msg: "must be a JSON string, as Flow Service takes every param"}
			}
			p.Properties = append(p.Properties, Property{Key: key, Value: v, Offset: off, ValueOffset: valOff})
			seen[member] = &p.Properties[len(p.Properties)-1]
			switch member {
			case "server":
				b.Server = v
			case "port":
				b.Port = v
			case "database":
				b.Database = v
			case "username":
				b.Username = v
			case "password":
				b.Password = v
			case "sslMode":
				b.SSLMode = v
			}
		}
		return expectDelim(dec, s, '}')
	}
	if err := readObject(true); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, &ParseError{Offset: int(dec.InputOffset()), Msg: "text after the JSON object"}
	}
	if len(p.Properties) == 0 {
		return nil, &ParseError{Offset: 0, Msg: "no basic authentication param (server, port, database, username, password, sslMode)"}
	}
	conn, warns, err := FromBasicAuth(b)
	if err != nil {
		var fe FieldError
		if errors.As(err, &fe) {
			if pr, ok := seen[fe.Field]; ok {
				return nil, &ParseError{Offset: pr.ValueOffset, Key: pr.Key, Msg: fe.Message}
			}
		}
		return nil, &ParseError{Offset: -1, Msg: strings.TrimPrefix(err.Error(), "connstr: ")}
	}
	p.Conn, p.Warnings = conn, warns
	return p, nil
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
// encoding/json's messages name characters and types, never values.
func jsonError(s string, dec *json.Decoder, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return &ParseError{Offset: int(se.Offset), Msg: "not valid JSON: " + se.Error()}
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
