package flowclient_test

import (
	"context"
	"fmt"
	"log"

	"golang.org/x/oauth2"

	"github.com/flowpg/flowpg/connstr"
	"github.com/flowpg/flowpg/flowclient"
	"github.com/flowpg/flowpg/flowclient/flowtest"
)

// New and CreateConnection against the flowtest emulator: register a
// PostgreSQL base connection, read it back, and have "Adobe" test it.
func ExampleClient_CreateConnection() {
	srv := flowtest.NewServer(flowtest.WithProber(
		func(ctx context.Context, req flowtest.ProbeRequest) ([]flowtest.ExploreItem, error) {
			return []flowtest.ExploreItem{{Type: "table", Name: "orders", Path: "public.orders"}}, nil
		}))
	defer srv.Close()

	c, err := flowclient.New(
		flowclient.WithBaseURL(srv.URL()),
		flowclient.WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: srv.Token()})),
		flowclient.WithAPIKey(srv.APIKey()),
		flowclient.WithOrgID(srv.Org()),
		flowclient.WithSandbox("prod"),
	)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	created, err := c.CreateConnection(ctx, flowclient.Connection{
		Name: "sales-postgres",
		Auth: flowclient.Auth{SpecName: connstr.BasicAuthSpecName, Params: flowclient.Params{
			"server": "db.example.com", "port": "5432", "database": "sales",
			"username": "aep_reader", "password": "s3cret", "sslMode": "Verify Full",
		}},
		ConnectionSpec: flowclient.SpecRef{ID: flowclient.PostgreSQLSpecID, Version: flowclient.PostgreSQLSpecVersion},
	})
	if err != nil {
		log.Fatal(err)
	}
	conn, err := c.GetConnection(ctx, created.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("name:", conn.Name)
	fmt.Println("etag quoted:", created.Etag[0] == '"')
	fmt.Println("password:", conn.Auth.Params["password"])

	res, err := c.TestConnection(ctx, created.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("test ok:", res.OK)
	tables, err := c.ExploreRoot(ctx, created.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("tables:", tables[0].Path)
	// Output:
	// name: sales-postgres
	// etag quoted: true
	// password: ********
	// test ok: true
	// tables: public.orders
}

// IMSTokenSource with flowtest acting as Adobe IMS: the client fetches one
// token and reuses it.
func ExampleIMSTokenSource() {
	srv := flowtest.NewServer()
	defer srv.Close()

	ctx := context.Background()
	ts, err := flowclient.IMSTokenSource(ctx, flowclient.IMSConfig{
		ClientID:     srv.ClientID(),
		ClientSecret: srv.ClientSecret(),
		TokenURL:     srv.TokenURL(), // default: flowclient.DefaultIMSTokenURL
	})
	if err != nil {
		log.Fatal(err)
	}
	c, err := flowclient.New(flowclient.WithBaseURL(srv.URL()), flowclient.WithTokenSource(ts),
		flowclient.WithAPIKey(srv.ClientID()), flowclient.WithOrgID(srv.Org()), flowclient.WithSandbox("prod"))
	if err != nil {
		log.Fatal(err)
	}
	spec, err := c.GetConnectionSpec(ctx, flowclient.PostgreSQLSpecID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(spec.ParamEnum(connstr.BasicAuthSpecName, "sslMode"))
	// Output:
	// [Disable Allow Prefer Verify Ca Verify Full]
}
