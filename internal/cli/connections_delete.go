package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/flowpg/flowpg/internal/printable"
)

// ConnectionsDeleteCmd deletes a stored base connection.
type ConnectionsDeleteCmd struct {
	Target
	Yes    bool       `short:"y" help:"Delete without asking (required when standard input is not a terminal)."`
	Output string     `short:"o" enum:"text,json" default:"text" help:"Output format: text or json."`
	Adobe  AdobeFlags `embed:"" prefix:""`
}

// Help is shown by flowpg connections delete --help.
func (ConnectionsDeleteCmd) Help() string {
	return `Deletes a base connection (DELETE /connections/{id}). On a terminal it asks
first; anywhere else it requires --yes, so that a script cannot delete by
accident. Flow Service refuses to delete a connection that dataflows use.

Examples:
  flowpg connections delete sales-pg
  flowpg connections delete 8a3f1c2e-0b7d-4c55-9a11-3b2f4e5d6c7a --yes -o json

Exit codes: 0 deleted, 1 not deleted (declined, no such connection, or Flow
Service refused), 2 no --yes off a terminal, or missing Adobe settings.`
}

// deleteResult is delete's JSON document.
type deleteResult struct {
	Status string `json:"status"` // deleted, declined
	Name   string `json:"name"`
	ID     string `json:"id"`
}

// Run deletes.
func (c *ConnectionsDeleteCmd) Run(ctx context.Context, streams *IO) error {
	interactive := stdinIsTerminal(streams)
	if !c.Yes && !interactive {
		return invalid(errors.New("refusing to delete without --yes: standard input is not a terminal, so there is no one to ask"))
	}
	client, err := c.Adobe.client(ctx, streams)
	if err != nil {
		return invalid(err)
	}
	conn, err := c.find(ctx, client)
	if err != nil {
		return apiError(streams, c.Output, "looking the connection up", err)
	}
	res := deleteResult{Status: "deleted", Name: conn.Name, ID: conn.ID}
	if !c.Yes {
		s := summarize(*conn)
		fmt.Fprintf(streams.Stderr, "Delete base connection %q (id %s, %s %s:%s/%s)? Dataflows that use it stop working. [y/N] ",
			s.Name, printable.Line(s.ID), printable.Line(s.SpecName), printable.Line(s.Server), printable.Line(s.Port), printable.Line(s.Database))
		if !confirmed(streams.Stdin) {
			res.Status = "declined"
			if c.Output == "json" {
				_ = writeDoc(streams, res)
				return &ExitError{Code: ExitFailed}
			}
			return failed(errors.New("not deleted"))
		}
	}
	if err := client.DeleteConnection(ctx, conn.ID); err != nil {
		return apiError(streams, c.Output, "deleting the connection", err)
	}
	if c.Output == "json" {
		return writeDoc(streams, res)
	}
	_, err = fmt.Fprintf(streams.Stdout, "deleted connection %q (id %s)\n", res.Name, printable.Line(res.ID))
	return err
}

// stdinIsTerminal reports whether standard input is a terminal, where a
// person can answer a question.
func stdinIsTerminal(streams *IO) bool {
	f, ok := streams.Stdin.(*os.File)
	return ok && termIsTerminal(f)
}

// confirmed reads one answer line: y or yes, in any case.
func confirmed(r io.Reader) bool {
	line, err := bufio.NewReader(io.LimitReader(r, 256)).ReadString('\n')
	if err != nil && line == "" {
		return false
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true
	}
	return false
}
