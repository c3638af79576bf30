package flowclient_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"golang.org/x/oauth2"

	"github.com/flowpg/flowpg/connstr"
	"github.com/flowpg/flowpg/flowclient"
	"github.com/flowpg/flowpg/flowclient/flowtest"
)

// The examples run against flowtest, the in-memory Flow Service beside this
// package, on a loopback port: each starts one, so that its output is
// checked by go test. Against Adobe, leave out WithBaseURL.

// salesParams are the Basic Authentication params of the examples whose
// point is not the params: those of ExampleClient_CreateConnection. The
// password is a placeholder, which no example prints.
func salesParams() flowclient.Params {
	return flowclient.Params{
		"server": "db.example.com", "port": "5432", "database": "sales",
		"username": "aep_reader", "password": "s3cret", "sslMode": "Verify Full",
	}
}

// New takes the four settings every Flow Service call needs: a token
// source, the API key (the credential's client id), the organization and
// the sandbox. oauth2.StaticTokenSource serves a ready access token;
// IMSTokenSource fetches one from an OAuth server-to-server credential and
// renews it. A setting missing, or a base URL that would send secrets in
// clear text, is an error before any request.
func ExampleNew() {
	srv := flowtest.NewServer()
	defer srv.Close()

	c, err := flowclient.New(
		flowclient.WithBaseURL(srv.URL()), // default: flowclient.DefaultBaseURL
		flowclient.WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: srv.Token()})),
		flowclient.WithAPIKey(srv.APIKey()),
		flowclient.WithOrgID(srv.Org()),
		flowclient.WithSandbox("prod"),
	)
	if err != nil {
		log.Fatal(err)
	}
	spec, err := c.GetConnectionSpec(context.Background(), flowclient.PostgreSQLSpecID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("source:", spec.Name, spec.Version)
	for _, a := range spec.AuthSpec {
		fmt.Println("auth spec:", a.Name)
	}

	_, err = flowclient.New(flowclient.WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: srv.Token()})))
	fmt.Println(err)
	_, err = flowclient.New(flowclient.WithBaseURL("http://platform.example.com/data/foundation/flowservice"))
	fmt.Println(err)
	// Output:
	// source: postgresql 1.0
	// auth spec: Connection String Based Authentication
	// auth spec: Basic Authentication
	// flowclient: missing api key (WithAPIKey), organization id (WithOrgID), sandbox name (WithSandbox)
	// flowclient: base url "http://platform.example.com/data/foundation/flowservice" uses plain http to a host that is not loopback: secrets would cross the network in clear text; use https (plain http is for an emulator on 127.0.0.1, ::1 or localhost)
}

// CreateConnection registers a PostgreSQL base connection. Flow Service
// answers with the new id and an etag, which keeps its quotes; reading the
// connection back shows its secret params masked.
func ExampleClient_CreateConnection() {
	srv := flowtest.NewServer()
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
	fmt.Println("recovered:", created.Recovered)
	fmt.Println("password:", conn.Auth.Params["password"])
	// Output:
	// name: sales-postgres
	// etag quoted: true
	// recovered: false
	// password: ********
}

// TestConnection asks Flow Service to connect to the source from Adobe's
// side. A test that ran and failed is a TestResult with OK false and
// Adobe's explanation, not an error: the error is for a test that could
// not run. Here the emulator's prober plays the database, which knows only
// the database "sales".
func ExampleClient_TestConnection() {
	srv := flowtest.NewServer(flowtest.WithProber(
		func(ctx context.Context, req flowtest.ProbeRequest) ([]flowtest.ExploreItem, error) {
			if db := req.Params["database"]; db != "sales" {
				return nil, fmt.Errorf("FATAL: database %q does not exist (SQLSTATE 3D000)", db)
			}
			return nil, nil
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

	for _, db := range []string{"sales", "salez"} {
		params := salesParams()
		params["database"] = db
		created, err := c.CreateConnection(ctx, flowclient.Connection{
			Name:           "sales-postgres-" + db,
			Auth:           flowclient.Auth{SpecName: connstr.BasicAuthSpecName, Params: params},
			ConnectionSpec: flowclient.SpecRef{ID: flowclient.PostgreSQLSpecID, Version: flowclient.PostgreSQLSpecVersion},
		})
		if err != nil {
			log.Fatal(err)
		}
		res, err := c.TestConnection(ctx, created.ID)
		if err != nil {
			log.Fatal(err) // the test could not be run
		}
		if res.OK {
			fmt.Printf("%s: Adobe reached the database\n", db)
		} else {
			fmt.Printf("%s: Adobe's test failed: %s\n", db, res.Message)
		}
	}
	// Output:
	// sales: Adobe reached the database
	// salez: Adobe's test failed: FATAL: database "salez" does not exist (SQLSTATE 3D000)
}

// ExploreRoot lists what Adobe sees at the root of the source: for
// PostgreSQL, the tables its user can read. A reply proves that Adobe's
// network reaches the database.
func ExampleClient_ExploreRoot() {
	srv := flowtest.NewServer(flowtest.WithProber(
		func(ctx context.Context, req flowtest.ProbeRequest) ([]flowtest.ExploreItem, error) {
			return []flowtest.ExploreItem{
				{Type: "table", Name: "orders", Path: "public.orders", CanPreview: true, CanFetchSchema: true},
				{Type: "table", Name: "refunds", Path: "billing.refunds", CanPreview: true, CanFetchSchema: true},
			}, nil
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
		Name:           "sales-postgres",
		Auth:           flowclient.Auth{SpecName: connstr.BasicAuthSpecName, Params: salesParams()},
		ConnectionSpec: flowclient.SpecRef{ID: flowclient.PostgreSQLSpecID, Version: flowclient.PostgreSQLSpecVersion},
	})
	if err != nil {
		log.Fatal(err)
	}

	tables, err := c.ExploreRoot(ctx, created.ID)
	if err != nil {
		log.Fatal(err)
	}
	for _, t := range tables {
		fmt.Println(t.Type, t.Path)
	}
	// Output:
	// table public.orders
	// table billing.refunds
}

// UpdateConnection changes a connection under If-Match: the etag read with
// it. Flow Service takes the whole params object, so a new password is
// sent with every other param (ReplaceParams). An update that carries an
// etag read before another update is refused as stale, and overwrites
// nothing: read the connection again, then retry.
func ExampleClient_UpdateConnection() {
	srv := flowtest.NewServer()
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
		Name:           "sales-postgres",
		Auth:           flowclient.Auth{SpecName: connstr.BasicAuthSpecName, Params: salesParams()},
		ConnectionSpec: flowclient.SpecRef{ID: flowclient.PostgreSQLSpecID, Version: flowclient.PostgreSQLSpecVersion},
	})
	if err != nil {
		log.Fatal(err)
	}

	conn, err := c.GetConnection(ctx, created.ID)
	if err != nil {
		log.Fatal(err)
	}
	params := salesParams()
	params["password"] = "n3w-s3cret" // rotated
	updated, err := c.UpdateConnection(ctx, conn.ID, conn.Etag, []flowclient.PatchOp{
		flowclient.ReplaceParams(params),
		{Op: "replace", Path: "/description", Value: "read-only user for AEP, password rotated"},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("new etag:", updated.Etag != conn.Etag)

	// conn.Etag is stale now.
	_, err = c.UpdateConnection(ctx, conn.ID, conn.Etag, []flowclient.PatchOp{{Op: "replace", Path: "/name", Value: "sales"}})
	fmt.Println("stale:", flowclient.IsStaleEtag(err))
	// Output:
	// new etag: true
	// stale: true
}

// Every reply that is not a success is an *APIError, whichever of Adobe's
// error shapes it came in. Its Code is Adobe's, and Meaning says in words
// what a documented Flow Service code means for the user; predicates such
// as IsNotFound classify the common cases.
func ExampleAPIError() {
	srv := flowtest.NewServer()
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
		Name:           "sales-postgres",
		Auth:           flowclient.Auth{SpecName: connstr.BasicAuthSpecName, Params: salesParams()},
		ConnectionSpec: flowclient.SpecRef{ID: flowclient.PostgreSQLSpecID, Version: flowclient.PostgreSQLSpecVersion},
	})
	if err != nil {
		log.Fatal(err)
	}
	srv.MarkInUse(created.ID) // as if a dataflow read from it

	err = c.DeleteConnection(ctx, created.ID)
	var ae *flowclient.APIError
	if errors.As(err, &ae) {
		fmt.Println("status:", ae.StatusCode)
		fmt.Println("code:", ae.Code)
		fmt.Println("meaning:", ae.Meaning())
		fmt.Println("request id kept:", ae.RequestID != "")
	}

	_, err = c.GetConnection(ctx, "00000000-0000-0000-0000-000000000000")
	fmt.Println("not found:", flowclient.IsNotFound(err))
	// Output:
	// status: 400
	// code: FLOW-1418-400
	// meaning: the base connection is used by dataflows and cannot be deleted: delete or move its dataflows first
	// request id kept: true
	// not found: true
}

// PreviewCreate describes the request CreateConnection would send, for a
// dry run: nothing is sent and no token is fetched. The token and the
// password are masked, so the preview is safe to print or log.
func ExampleClient_PreviewCreate() {
	c, err := flowclient.New(
		flowclient.WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "never-sent"})),
		flowclient.WithAPIKey("my-client-id"),
		flowclient.WithOrgID("0123456789ABCDEF01234567@AdobeOrg"),
		flowclient.WithSandbox("prod"),
	)
	if err != nil {
		log.Fatal(err)
	}
	p, err := c.PreviewCreate(flowclient.Connection{
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
	fmt.Print(p)
	// Output:
	// POST https://platform.adobe.io/data/foundation/flowservice/connections
	// Accept: application/json
	// Authorization: Bearer ********
	// Content-Type: application/json
	// User-Agent: flowpg-flowclient
	// X-Api-Key: my-client-id
	// X-Gw-Ims-Org-Id: 0123456789ABCDEF01234567@AdobeOrg
	// X-Sandbox-Name: prod
	//
	// {
	//   "name": "sales-postgres",
	//   "auth": {
	//     "specName": "Basic Authentication",
	//     "params": {
	//       "database": "sales",
	//       "password": "********",
	//       "port": "5432",
	//       "server": "db.example.com",
	//       "sslMode": "Verify Full",
	//       "username": "aep_reader"
	//     }
	//   },
	//   "connectionSpec": {
	//     "id": "74a1c565-4e59-48d7-9d67-7c03b8a13137",
	//     "version": "1.0"
	//   }
	// }
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
