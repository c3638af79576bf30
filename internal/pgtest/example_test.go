package pgtest_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/flowpg/flowpg/internal/pgtest"
)

// Start works outside tests too, say in a demo program; Close must follow.
func ExampleStart() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	srv, err := pgtest.Start(ctx, pgtest.Options{Version: "17", TLS: pgtest.TLSRequired})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close(context.Background())

	conn, err := pgx.Connect(ctx, srv.DSN(pgtest.ScramUser, pgtest.ScramPassword))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM sales.regions").Scan(&n); err != nil {
		log.Fatal(err)
	}
	fmt.Println(n)
}
