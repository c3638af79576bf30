package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/flowpg/flowpg/flowclient"
)

// ConnectionsTestCmd asks Adobe to test and explore a stored connection.
// (The file is not named connections_test.go, which Go would take for a
// test file.)
type ConnectionsTestCmd struct {
	Target
	Region string     `placeholder:"REGION" help:"Your AEP region (va7, nld2, aus5, can2, ind2, va6): the hint names the addresses the database must admit."`
	Output string     `short:"o" enum:"text,json" default:"text" help:"Output format: text or json."`
	Adobe  AdobeFlags `embed:"" prefix:""`
}

// Help is shown by flowpg connections test --help.
func (ConnectionsTestCmd) Help() string {
	return `Asks Flow Service to test the stored connection now (GET /connections/{id}/test)
and, when that passes, to explore it (the tables Adobe can see). A success
proves that Adobe's network reaches the database and logs in. A failure
comes with the same evidence-based hint as connect: the network Adobe
dials from and, when the stored sslMode verifies the certificate, trust.

Examples:
  flowpg connections test sales-pg
  flowpg connections test sales-pg --region va7 -o json

Exit codes: 0 Adobe can use the connection, 1 it cannot (or no such
connection, or a Flow Service call failed), 2 missing Adobe settings.`
}

// testResult is test's JSON document.
type testResult struct {
	Name         string        `json:"name"`
	ID           string        `json:"id"`
	Usable       bool          `json:"usable"`
	Verification *verifyResult `json:"verification"`
	Hint         string        `json:"hint,omitempty"`
}

// Run tests.
func (c *ConnectionsTestCmd) Run(ctx context.Context, streams *IO) error {
	var region *flowclient.Region
	if c.Region != "" {
		r, err := lookupRegion(c.Region)
		if err != nil {
			return invalid(err)
		}
		region = &r
	}
	client, err := c.Adobe.client(ctx, streams)
	if err != nil {
		return invalid(err)
	}
	conn, err := c.find(ctx, client)
	if err != nil {
		return apiError(streams, c.Output, "looking the connection up", err)
	}
	res := testResult{Name: conn.Name, ID: conn.ID, Verification: verify(ctx, client, conn.ID)}
	res.Usable = res.Verification.Error == ""
	if res.Verification.refused {
		mode, known := storedMode(*conn)
		res.Hint = verifyHint(mode, known, region, false, conn.Name)
	}
	var exit error
	if !res.Usable {
		exit = &ExitError{Code: ExitFailed}
	}
	if c.Output == "json" {
		if err := writeDoc(streams, res); err != nil {
			return err
		}
		return exit
	}
	var b strings.Builder
	fmt.Fprintf(&b, "connection %q (id %s)\n", res.Name, res.ID)
	writeVerification(&b, res.Verification)
	if res.Hint != "" {
		fmt.Fprintf(&b, "hint: %s\n", res.Hint)
	}
	if _, err := fmt.Fprint(streams.Stdout, b.String()); err != nil {
		return failed(err)
	}
	return exit
}
