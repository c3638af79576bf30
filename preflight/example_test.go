package preflight_test

import (
	"context"
	"fmt"
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
