package cli

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/flowpg/flowpg/connstr"
	"github.com/flowpg/flowpg/flowclient"
)

// ConnectionsCmd groups the commands that keep a registered base connection
// working: list, show, test, update (password rotation) and delete. Each
// lives in a file of its own.
type ConnectionsCmd struct {
	List   ConnectionsListCmd   `cmd:"" help:"List the PostgreSQL base connections in the sandbox."`
	Show   ConnectionsShowCmd   `cmd:"" help:"Show one base connection, secrets masked."`
	Test   ConnectionsTestCmd   `cmd:"" help:"Ask Adobe to test and explore a stored base connection now."`
	Update ConnectionsUpdateCmd `cmd:"" help:"Change a base connection (rotate its password, move its database) after the same gate as connect."`
	Delete ConnectionsDeleteCmd `cmd:"" help:"Delete a base connection."`
}

// Target names a stored connection by name or id.
type Target struct {
	Target string `arg:"" name:"NAME|ID" help:"The base connection's name, or its id."`
}

// uuidLike matches the ids Flow Service gives connections.
var uuidLike = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// errNotFound is a target that no connection matches.
type errNotFound struct{ target string }

func (e *errNotFound) Error() string {
	return fmt.Sprintf("no PostgreSQL base connection named %q, or with that id, in this sandbox", e.target)
}

// find returns the PostgreSQL connection t names: by id when it looks like
// one (a name of that shape is tried next), else by name.
// Validate refuses an empty name (an unset shell variable, most often)
// before anything is asked of Flow Service.
func (t Target) Validate() error {
	if strings.TrimSpace(t.Target) == "" {
		return errors.New("NAME|ID is empty: give the base connection's name or id")
	}
	return nil
}

func (t Target) find(ctx context.Context, client *flowclient.Client) (*flowclient.Connection, error) {
	if uuidLike.MatchString(t.Target) {
		c, err := client.GetConnection(ctx, t.Target)
		switch {
		case err == nil && c.ConnectionSpec.ID != flowclient.PostgreSQLSpecID:
			return nil, fmt.Errorf("connection %s is not a PostgreSQL connection (connection spec %s)", c.ID, c.ConnectionSpec.ID)
		case err == nil:
			return &c, nil
		case !flowclient.IsNotFound(err):
			return nil, err
		}
	}
	c, err := client.FindConnectionByName(ctx, t.Target, flowclient.PostgreSQLSpecID)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, &errNotFound{t.Target}
	}
	return c, nil
}

// connectionSummary is one stored connection as list and show describe it:
// what it registers, never its secrets.
type connectionSummary struct {
	Name      string `json:"name"`
	ID        string `json:"id"`
	SpecName  string `json:"specName"`
	Server    string `json:"server,omitempty"`
	Port      string `json:"port,omitempty"`
	Database  string `json:"database,omitempty"`
	Username  string `json:"username,omitempty"`
	SSLMode   string `json:"sslMode,omitempty"`
	State     string `json:"state,omitempty"`
	UpdatedAt string `json:"updatedAt,omitempty"`
	Etag      string `json:"etag,omitempty"`
}

// summarize reads what c registers. A connection string is one masked
// secret, so only its auth spec shows.
func summarize(c flowclient.Connection) connectionSummary {
	s := connectionSummary{Name: c.Name, ID: c.ID, SpecName: c.Auth.SpecName, State: c.State, Etag: c.Etag,
		UpdatedAt: millisTime(c.UpdatedAt)}
	if c.Auth.SpecName == connstr.BasicAuthSpecName {
		p := c.Auth.Params
		s.Server, s.Port, s.Database, s.Username, s.SSLMode = p["server"], p["port"], p["database"], p["username"], p["sslMode"]
	}
	return s
}

// millisTime renders Flow Service's epoch milliseconds as RFC 3339 in UTC.
func millisTime(ms int64) string {
	if ms <= 0 {
		return ""
	}
	return time.UnixMilli(ms).UTC().Format(time.RFC3339)
}

// storedMode is the sslMode a stored connection registers, and whether it
// could be read (a connection string is masked whole).
func storedMode(c flowclient.Connection) (connstr.SSLMode, bool) {
	conn, ok := registeredFields(c.Auth.SpecName, c.Auth.Params)
	if !ok {
		return connstr.SSLModeUnset, false
	}
	m, _ := conn.SSLMode()
	return m, true
}
