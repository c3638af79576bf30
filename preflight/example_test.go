package preflight_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/flowpg/flowpg/connstr"
	"github.com/flowpg/flowpg/preflight"
)

// Run checks a connection stage by stage. Here the input itself is
// incomplete, so the input stage fails, names the field, and every later
// stage is skipped without touching the network.
func ExampleRun() {
	p, err := connstr.Parse("Server=db.example.com;UID=aep_reader;Password=s3cret;EncryptionMethod=1;ValidateServerCertificate=1")
	if err != nil {
		fmt.Println(err)
		return
	}
	rep := preflight.Run(context.Background(), p.Conn, preflight.Options{Timeout: 5 * time.Second})
	fmt.Println("verdict:", rep.Verdict)
	for _, c := range rep.Checks[:3] {
		fmt.Printf("%-8s %-5s field=%q %s\n", c.ID, c.Status, c.Field, c.Message)
	}
	// Output:
	// verdict: fail
	// input    fail  field="database" connstr: invalid connection: database: required
	// address  skip  field="" skipped: the input stage failed
	// dns      skip  field="" skipped: the input stage failed
}

// closedPort returns a loopback port that nothing listens on: one the
// system just handed out and that was closed again.
func closedPort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// Run against a port where nothing listens: the tcp stage fails, classified
// from the error's type (Result.Kind), and blames the port; the stages that
// need a connection are skipped. A loopback address is reachable from here
// but not from a remote client, so the address stage warns (see
// Options.PrivateAddress).
func ExampleRun_closedPort() {
	conn := connstr.Conn{Server: "127.0.0.1", Port: closedPort(), Database: "sales", User: "aep_reader", Password: "s3cret"}
	rep := preflight.Run(context.Background(), conn, preflight.Options{Timeout: 5 * time.Second})
	fmt.Println("verdict:", rep.Verdict)
	for _, c := range rep.Checks {
		fmt.Printf("%-11s %-4s kind=%q field=%q\n", c.ID, c.Status, c.Kind, c.Field)
	}
	// Output:
	// verdict: fail
	// input       pass kind="" field=""
	// address     warn kind="" field="server"
	// dns         pass kind="" field=""
	// tcp         fail kind="refused" field="port"
	// tls         skip kind="" field=""
	// certificate skip kind="" field=""
	// sslmode     skip kind="" field=""
	// auth        skip kind="" field=""
	// server      skip kind="" field=""
	// privileges  skip kind="" field=""
}

// Options.Progress streams the run: the target first, then each stage as
// it starts (those that wait on the network) and as it ends, in the order
// of Stages, so that a hang shows where it hangs.
func ExampleRun_progress() {
	conn := connstr.Conn{Server: "127.0.0.1", Port: closedPort(), Database: "sales", User: "aep_reader", Password: "s3cret"}
	opts := preflight.Options{Timeout: 5 * time.Second, Progress: func(e preflight.Event) {
		switch {
		case e.Target != "":
			fmt.Println("checking aep_reader@127.0.0.1/sales:", strings.HasPrefix(e.Target, "aep_reader@127.0.0.1:"))
		case e.Result == nil:
			fmt.Println("started ", e.Stage)
		case e.Result.Status != preflight.Skip:
			fmt.Println("finished", e.Stage, e.Result.Status)
		}
	}}
	preflight.Run(context.Background(), conn, opts)
	// Output:
	// checking aep_reader@127.0.0.1/sales: true
	// finished input pass
	// started  dns
	// finished address warn
	// finished dns pass
	// started  tcp
	// finished tcp fail
}

// The stage accessors return a stage's findings typed, without a type
// switch on Result.Details.
func ExampleReport_Input() {
	conn := connstr.Conn{Server: "127.0.0.1", Port: closedPort(), Database: "sales", User: "aep_reader", Password: "s3cret"}
	conn.SetSSLMode(connstr.SSLVerifyFull)
	rep := preflight.Run(context.Background(), conn, preflight.Options{Timeout: 5 * time.Second, SSLMode: connstr.SSLVerifyCA, SSLModeReason: "as registered"})
	if in, ok := rep.Input(); ok {
		fmt.Println("checked:", in.SSLMode.LibPQ(), "asked for:", in.RequestedSSLMode.LibPQ(), "why:", in.SSLModeReason)
	}
	if _, ok := rep.Certificate(); !ok {
		fmt.Println("no certificate: the tcp stage failed first")
	}
	// Output:
	// checked: verify-ca asked for: verify-full why: as registered
	// no certificate: the tcp stage failed first
}

// A result that names an option (Options.Timeout) carries its code in
// Result.Option, so that a caller that sets the option from a setting of its
// own can name that setting instead: here a command-line flag. The server
// accepts the connection and never answers, so the run ends at its limit.
func ExampleOption() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	go func() {
		var held []net.Conn // accepted, never answered
		for {
			c, err := ln.Accept()
			if err != nil {
				for _, c := range held {
					c.Close()
				}
				return
			}
			held = append(held, c)
		}
	}()
	conn := connstr.Conn{Server: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, Database: "sales", User: "aep_reader", Password: "s3cret"}
	rep := preflight.Run(context.Background(), conn, preflight.Options{Timeout: 300 * time.Millisecond})

	flags := map[preflight.Option]string{preflight.OptionTimeout: "--timeout"}
	f := rep.Failed()
	fmt.Println(f.ID, f.Kind, f.Option)
	fix := f.Remediation[strings.LastIndex(f.Remediation, "; ")+2:]
	fmt.Println(fix)
	fmt.Println(strings.ReplaceAll(fix, f.Option.String(), flags[f.Option]))
	// Output:
	// auth timeout Options.Timeout
	// if the path is only slow, raise Options.Timeout (300ms now)
	// if the path is only slow, raise --timeout (300ms now)
}
