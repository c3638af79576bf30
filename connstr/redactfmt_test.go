package connstr

import (
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRedaction_EveryVerbEveryType: no fmt verb, flag, width or precision
// prints a secret held by any of the types that hold one, alone, through a
// pointer, in a slice or inside another struct.
//
// Two gaps are fmt's, and are tested apart: fmt calls no method of a value
// printed with %p that is not a pointer (go vet reports that call), nor of
// a *Parsed inside another value printed with a verb that fits no pointer
// (%c, %e, %t, %U, …): it prints their fields raw. Conn, BasicAuth and
// Property have a Format method and are safe there; Parsed cannot have
// one beside its field named Format.
func TestRedaction_EveryVerbEveryType(t *testing.T) {
	const pw, tok = "hunter2", "tok3n"
	p, err := Parse("Server=h;UID=u;Password=" + pw + ";SecretToken=" + tok + ";Foo=bar")
	require.NoError(t, err)
	j, err := Parse(`{"server":"h","username":"u","password":"` + pw + `","sslMode":"Require"}`)
	require.NoError(t, err)
	ba, _ := p.Conn.BasicAuth(StyleTutorial)
	require.Equal(t, pw, ba.Password)
	type holder struct {
		C Conn
		B BasicAuth
		P []Property
		D Parsed
	}
	values := map[string]any{
		"Conn": p.Conn, "*Conn": &p.Conn, "Parsed": *p, "*Parsed": p, "JSON Parsed": j,
		"Property": p.Properties[2], "*Property": &p.Properties[3], "[]Property": p.Properties,
		"BasicAuth": ba, "*BasicAuth": &ba, "holder": holder{p.Conn, ba, p.Properties, *p}, "*holder": &holder{p.Conn, ba, p.Properties, *p},
		"map": map[string]any{"c": p.Conn, "b": ba, "p": p.Properties[2]},
	}
	verbs := []string{"%v", "%+v", "%#v", "%s", "%q", "%+q", "%#q", "%x", "%X", "% x", "%d", "%t",
		"%10v", "%-60s", "%.40s", "%T", "%U", "%c", "%e", "%08v"}
	leaks := []string{pw, tok, hex.EncodeToString([]byte(pw)), strings.ToUpper(hex.EncodeToString([]byte(pw))),
		hex.EncodeToString([]byte(tok))}
	for name, v := range values {
		for _, verb := range verbs {
			out := fmt.Sprintf(verb, v)
			for _, leak := range leaks {
				assert.NotContains(t, out, leak, "%s of %s: %s", verb, name, out)
			}
			assert.NotContains(t, out, "68 75 6e 74", "%s of %s: spaced hex", verb, name)
		}
	}
	for _, v := range []any{&p.Conn, p, &p.Properties[2], &ba, []*Conn{&p.Conn}, struct{ C *Conn }{&p.Conn}} {
		out := fmt.Sprintf("%p", v)
		assert.NotContains(t, out, pw, "%%p of %T: %s", v, out)
	}
	nested := []any{[]*Parsed{p}, struct{ P *Parsed }{p}, map[string]*Parsed{"p": p}}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%p", "%10v"} {
		for i, v := range nested {
			out := fmt.Sprintf(verb, v)
			assert.NotContains(t, out, pw, "%s of nested *Parsed %d: %s", verb, i, out)
			assert.NotContains(t, out, tok, "%s of nested *Parsed %d: %s", verb, i, out)
		}
	}
}

// TestRedaction_Shape: the redacting methods print what fmt would print for
// the fields, with the secret masked, and honour the verb's width and
// precision; a verb that does not fit is marked as fmt marks one.
func TestRedaction_Shape(t *testing.T) {
	p, err := Parse("Server=h;UID=u;Password=hunter2")
	require.NoError(t, err)
	ba, _ := p.Conn.BasicAuth(StyleTutorial)
	prop := p.Properties[2]

	assert.Equal(t, "Server=h;UID=u;Password="+Redacted, fmt.Sprint(p.Conn))
	assert.Equal(t, "datadirect: Server=h;UID=u;Password="+Redacted, fmt.Sprint(p))
	assert.Equal(t, "{Password "+Redacted+" 15 24}", fmt.Sprint(prop))
	assert.Equal(t, "{Key:Password Value:"+Redacted+" Offset:15 ValueOffset:24}", fmt.Sprintf("%+v", prop))
	assert.Equal(t, "{Server:h Port:5432 Database: Username:u Password:"+Redacted+" SSLMode:Disable}", fmt.Sprint(ba))

	for name, v := range map[string]any{"Conn": p.Conn, "Parsed": *p, "Property": prop, "BasicAuth": ba} {
		assert.True(t, strings.HasPrefix(fmt.Sprintf("%#v", v), "connstr."+name+"{"), name)
		s := fmt.Sprint(v)
		assert.Equal(t, fmt.Sprintf("%-70s|", s), fmt.Sprintf("%-70s|", v), name)
		assert.Equal(t, fmt.Sprintf("%.6s", s), fmt.Sprintf("%.6s", v), name)
		assert.Equal(t, fmt.Sprintf("%q", s), fmt.Sprintf("%q", v), name)
		if name != "Parsed" { // Parsed has no Format method: fmt prints its String
			assert.Equal(t, "%!x(connstr."+name+"="+s+")", fmt.Sprintf("%x", v), name)
		}
	}
	assert.True(t, strings.HasPrefix(fmt.Sprintf("%#v", &p.Conn), "connstr.Conn{Server:\"h\""), "*Conn is printed by Conn's Format")
	assert.Contains(t, fmt.Sprintf("%#v", p.Conn), `Password:"`+Redacted+`"`)
}
