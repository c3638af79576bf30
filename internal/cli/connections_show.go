package cli

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/flowpg/flowpg/internal/printable"
)

// ConnectionsShowCmd shows one stored base connection.
type ConnectionsShowCmd struct {
	Target
	Output string     `short:"o" enum:"text,json" default:"text" help:"Output format: text or json."`
	Adobe  AdobeFlags `embed:"" prefix:""`
}

// Help is shown by flowpg connections show --help.
func (ConnectionsShowCmd) Help() string {
	return `Shows every field of one base connection as Flow Service holds it: name,
description, state, auth spec and params, connection spec, etag, and who
created and last updated it when. Secrets stay masked.

Examples:
  flowpg connections show sales-pg
  flowpg connections show 8a3f1c2e-0b7d-4c55-9a11-3b2f4e5d6c7a -o json

Exit codes: 0 shown, 1 no such connection or a Flow Service call failed,
2 missing Adobe settings.`
}

// Run shows.
func (c *ConnectionsShowCmd) Run(ctx context.Context, streams *IO) error {
	client, err := c.Adobe.client(ctx, streams)
	if err != nil {
		return invalid(err)
	}
	conn, err := c.find(ctx, client)
	if err != nil {
		return apiError(streams, c.Output, "looking the connection up", err)
	}
	shown := conn.Redacted()
	if c.Output == "json" {
		return writeDoc(streams, struct {
			Connection any `json:"connection"`
		}{shown})
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", printable.Line(k), printable.Line(v)) // Flow Service's text
		}
	}
	row("Name", shown.Name)
	row("ID", shown.ID)
	row("Description", shown.Description)
	row("State", shown.State)
	row("Auth spec", shown.Auth.SpecName)
	keys := make([]string, 0, len(shown.Auth.Params))
	for k := range shown.Auth.Params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		row("  "+k, shown.Auth.Params[k])
	}
	row("Connection spec", shown.ConnectionSpec.ID+" version "+shown.ConnectionSpec.Version)
	row("Etag", shown.Etag)
	row("Sandbox", shown.SandboxName)
	row("Created", strings.TrimSpace(millisTime(shown.CreatedAt)+" by "+shown.CreatedBy))
	row("Updated", strings.TrimSpace(millisTime(shown.UpdatedAt)+" by "+shown.UpdatedBy))
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err = fmt.Fprint(streams.Stdout, b.String())
	return err
}
