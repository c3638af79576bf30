package connstr_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/flowpg/flowpg/connstr"
)

func ExampleParse() {
	p, err := connstr.Parse("Server=db.example.com;Database=sales;Port=5432;UID=aep_reader;Password=s3cret!;EncryptionMethod=1;ValidateServerCertificate=1")
	if err != nil {
		fmt.Println(err)
		return
	}
	mode, _ := p.Conn.SSLMode()
	fmt.Println(p.Format)
	fmt.Println(p.Conn) // the password is never printed
	fmt.Println(mode.Spelling(connstr.StyleTutorial))
	// Output:
	// datadirect
	// Server=db.example.com;Database=sales;Port=5432;UID=aep_reader;Password=********;EncryptionMethod=1;ValidateServerCertificate=1
	// Verify Ca
}

func ExampleParse_error() {
	_, err := connstr.Parse("Server=db;Password={s3cret;Port=5432")
	fmt.Println(err)
	// Output:
	// connstr: offset 19: key "Password": unterminated "{" opened here
}

func ExampleBuild() {
	c := connstr.Conn{Server: "db.example.com", Database: "sales", User: "aep_reader", Password: "a;b"}
	c.SetSSLMode(connstr.SSLVerifyCA)
	s, warns := connstr.Build(c)
	fmt.Println(s)
	for _, w := range warns {
		fmt.Println(w.Code)
	}
	// Output:
	// Server=db.example.com;Database=sales;UID=aep_reader;Password={a;b};EncryptionMethod=1;ValidateServerCertificate=1
	// brace-quoting
}

func ExampleConn_BasicAuth() {
	p, _ := connstr.Parse("Server=db.example.com;Database=sales;UID=aep_reader;Password=s3cret!;EncryptionMethod=1")
	params, warns := p.Conn.BasicAuth(connstr.StyleTutorial)
	// json.Marshal(params) carries the password, on purpose: it is the
	// credential Flow Service takes. Printed here, it is masked.
	b, _ := json.Marshal(params.Redacted())
	fmt.Println(string(b))
	for _, w := range warns {
		fmt.Println(w.Code)
	}
	// Output:
	// {"server":"db.example.com","port":"5432","database":"sales","username":"aep_reader","password":"********","sslMode":"Verify Ca"}
	// require-not-in-tutorial
}

func ExampleParse_libpq() {
	p, err := connstr.Parse("host=db.example.com port=5433 dbname=sales user=aep_reader password='s3cret !' sslmode=verify-full connect_timeout=10")
	if err != nil {
		fmt.Println(err)
		return
	}
	mode, _ := p.Conn.SSLMode()
	fmt.Println(p.Format)
	fmt.Println(p.Conn.Server, p.Conn.Port, p.Conn.Database, p.Conn.User, mode)
	fmt.Println(p.Conn) // the password is never printed
	for _, w := range p.Warnings {
		fmt.Println(w.Code, w.Field)
	}
	// Output:
	// libpq
	// db.example.com 5433 sales aep_reader verify-full
	// Server=db.example.com;Database=sales;Port=5433;UID=aep_reader;Password=********;EncryptionMethod=1;ValidateServerCertificate=1;HostNameInCertificate=#SERVERNAME#;connect_timeout=10
	// unknown-key connect_timeout
}

func ExampleParse_url() {
	p, err := connstr.Parse("postgresql://aep_reader:s3cret%21@db.example.com/sales?sslmode=require")
	if err != nil {
		fmt.Println(err)
		return
	}
	mode, _ := p.Conn.SSLMode()
	fmt.Println(p.Format, p.Conn.Server, p.Conn.PortOrDefault(), p.Conn.Database, p.Conn.User, mode)
	fmt.Printf("%v\n", p.Conn)

	// JDBC's URL is read too; ssl=true means sslmode=require, as in pgx.
	p, err = connstr.Parse("jdbc:postgresql://db.example.com:5433/sales?user=aep_reader&password=s3cret&ssl=true")
	if err != nil {
		fmt.Println(err)
		return
	}
	mode, _ = p.Conn.SSLMode()
	fmt.Println(p.Format, p.Conn.Server, p.Conn.Port, mode)
	// Output:
	// url db.example.com 5432 sales aep_reader require
	// Server=db.example.com;Database=sales;UID=aep_reader;Password=********;EncryptionMethod=1;ValidateServerCertificate=0
	// url db.example.com 5433 require
}

func ExampleParse_npgsql() {
	p, err := connstr.Parse("Host=db.example.com;Username=aep_reader;Password=s3cret;Database=sales;SSL Mode=VerifyFull")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p.Format)
	fmt.Println(p.Conn)
	// Output:
	// npgsql
	// Server=db.example.com;Database=sales;UID=aep_reader;Password=********;EncryptionMethod=1;ValidateServerCertificate=1;HostNameInCertificate=#SERVERNAME#
}

// ParseError points at the byte that is wrong, and names the key; it never
// quotes a value, which could be the password.
func ExampleParseError() {
	in := "Server=db.example.com;Port=54x2;UID=aep_reader"
	_, err := connstr.Parse(in)
	var pe *connstr.ParseError
	if errors.As(err, &pe) {
		fmt.Println(pe.Key, pe.Offset)
		fmt.Println(in)
		fmt.Println(strings.Repeat(" ", pe.Offset) + "^")
		fmt.Println(err)
	}
	// Output:
	// Port 27
	// Server=db.example.com;Port=54x2;UID=aep_reader
	//                            ^
	// connstr: offset 27: key "Port": port "54x2" is not a number in 1-65535
}

func ExampleConn_Validate() {
	// Parse would refuse this server; a Conn built by hand is checked by
	// Validate, which names every bad field.
	c := connstr.Conn{Server: "db.example.com:5433", Port: 70000, User: "aep_reader"}
	err := c.Validate()
	var ve *connstr.ValidationError
	if errors.As(err, &ve) {
		for _, f := range ve.Fields {
			fmt.Printf("%s: %s\n", f.Field, f.Message)
		}
	}
	// Output:
	// server: the host holds a port after ':': put the port in Port= (Port=5433) and only the host in Server=
	// port: 70000 is out of range 1-65535
	// database: required
	// password: required by AEP
}

func ExampleFromBasicAuth() {
	c, warns, err := connstr.FromBasicAuth(connstr.BasicAuth{
		Server: "db.example.com", Port: "5432", Database: "sales",
		Username: "aep_reader", Password: "s3cret", SSLMode: "Verify Full",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(c) // the password is never printed
	fmt.Println(len(warns))
	// Output:
	// Server=db.example.com;Database=sales;Port=5432;UID=aep_reader;Password=********;EncryptionMethod=1;ValidateServerCertificate=1;HostNameInCertificate=#SERVERNAME#
	// 0
}

func ExampleConn_LibPQ() {
	c := connstr.Conn{Server: "2001:db8::1", Database: "sales", User: "aep_reader", Password: "s3cret"}
	c.SetSSLMode(connstr.SSLVerifyFull)
	dsn, _ := c.LibPQ()
	fmt.Println(connstr.Redact(dsn)) // dsn holds the password: mask it before printing
	// Output:
	// host=2001:db8::1 dbname=sales user=aep_reader password=******** sslmode=verify-full
}

func ExampleConn_URL() {
	c := connstr.Conn{Server: "db.example.com", Port: 5433, Database: "sales", User: "aep reader", Password: "s3cret/!"}
	c.SetSSLMode(connstr.SSLRequire)
	u, _ := c.URL()
	fmt.Println(connstr.Redact(u)) // u holds the password: mask it before printing
	// Output:
	// postgres://aep%20reader:********@db.example.com:5433/sales?sslmode=require
}

func ExampleRedact() {
	fmt.Println(connstr.Redact(`pq: connect "host=db password='s3 cret' sslmode=require" failed`))
	fmt.Println(connstr.Redact("Server=db;PWD={a;b};UID=u"))
	fmt.Println(connstr.Redact(`{"username":"u","password":"s3cret"}`))
	fmt.Println(connstr.Redact("mysql://u:s3cret@db/x"))
	// Output:
	// pq: connect "host=db password=******** sslmode=require" failed
	// Server=db;PWD=********;UID=u
	// {"username":"u","password":********}
	// mysql://u:********@db/x
}

func ExampleSecretSpans() {
	text := "Server=db;Password=s3cret;UID=u"
	for _, s := range connstr.SecretSpans(text) {
		fmt.Println(s.Start, s.End)
		fmt.Println(text[:s.Start] + "[secret]" + text[s.End:])
	}
	// Output:
	// 19 25
	// Server=db;Password=[secret];UID=u
}

func ExampleVocabulary_Register() {
	// The sslMode enum of a live connection spec, as Flow Service lists it.
	v := connstr.NewVocabulary([]string{"Disable", "Allow", "Prefer", "Verify Ca", "Verify Full"})
	reg, warns, err := v.Register(connstr.SSLRequire)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("send %q, dial as %s\n", reg.Value, reg.Mode)
	for _, w := range warns {
		fmt.Println(w.Code)
	}
	// Output:
	// send "Verify Ca", dial as verify-ca
	// sslmode-stricter
}
