package cli

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/flowpg/flowpg/flowclient"
	"github.com/flowpg/flowpg/internal/printable"
)

// ConnectionsListCmd lists the PostgreSQL base connections in the sandbox.
type ConnectionsListCmd struct {
	Output string     `short:"o" enum:"text,json" default:"text" help:"Output format: text or json."`
	Adobe  AdobeFlags `embed:"" prefix:""`
}

// Help is shown by flowpg connections list --help.
func (ConnectionsListCmd) Help() string {
	return `Lists the PostgreSQL base connections of the sandbox, every page of them:
name, id, server, port, database, username, sslMode, state and last update.
A connection registered with a connection string shows only its auth spec:
Flow Service masks the whole string.

Examples:
  flowpg connections list
  flowpg connections list -o json --config ~/aepp-config.json

Exit codes: 0 listed, 1 a Flow Service call failed, 2 missing Adobe settings.`
}

// Run lists.
func (c *ConnectionsListCmd) Run(ctx context.Context, streams *IO) error {
	client, err := c.Adobe.client(ctx, streams)
	if err != nil {
		return invalid(err)
	}
	list, err := client.ListConnections(ctx, flowclient.ListOptions{Property: []string{"connectionSpec.id==" + flowclient.PostgreSQLSpecID}})
	if err != nil {
		return apiError(streams, c.Output, "listing the connections", err)
	}
	rows := make([]connectionSummary, 0, len(list))
	for _, conn := range list {
		rows = append(rows, summarize(conn))
	}
	slices.SortStableFunc(rows, func(a, b connectionSummary) int { return strings.Compare(a.Name, b.Name) })
	if c.Output == "json" {
		return writeDoc(streams, struct {
			Connections []connectionSummary `json:"connections"`
		}{rows})
	}
	if len(rows) == 0 {
		_, err := fmt.Fprintln(streams.Stdout, "no PostgreSQL base connections in this sandbox")
		return err
	}
	tw := tabwriter.NewWriter(streams.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tID\tSERVER\tPORT\tDATABASE\tUSERNAME\tSSLMODE\tSTATE\tUPDATED")
	for _, r := range rows {
		if r.SpecName != "" && r.Server == "" {
			r.Server = "(connection string)"
		}
		fields := []any{r.Name, r.ID, r.Server, r.Port, r.Database, r.Username, r.SSLMode, r.State, r.UpdatedAt}
		for i, f := range fields {
			fields[i] = printable.Line(f.(string)) // Flow Service's text, shown on a terminal
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", fields...)
	}
	return tw.Flush()
}
