package connstr_test

import (
	"encoding/json"
	"fmt"

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
	b, _ := json.Marshal(params)
	fmt.Println(string(b))
	for _, w := range warns {
		fmt.Println(w.Code)
	}
	// Output:
	// {"server":"db.example.com","port":"5432","database":"sales","username":"aep_reader","password":"s3cret!","sslMode":"Verify Ca"}
	// require-not-in-tutorial
}
