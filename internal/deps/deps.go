// Package deps pins modules that packages still being written will import,
// so that go mod tidy keeps them. Remove it once every module is imported.
package deps

import (
	_ "github.com/alecthomas/kong"
	_ "github.com/jackc/pgx/v5"
	_ "github.com/stretchr/testify/require"
	_ "github.com/testcontainers/testcontainers-go"
	_ "github.com/testcontainers/testcontainers-go/modules/postgres"
	_ "golang.org/x/oauth2/clientcredentials"
	_ "golang.org/x/term"
)
