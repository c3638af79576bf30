package connstr

import (
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

const (
	benchDataDirect = "Server=db.example.com;Database=sales;Port=5432;UID=aep_reader;Password=s3cret!;EncryptionMethod=1;ValidateServerCertificate=1"
	benchLibPQ      = "host=db.example.com dbname=sales port=5432 user=aep_reader password=s3cret! sslmode=verify-ca"
)

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(benchDataDirect); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBuild(b *testing.B) {
	p, err := Parse(benchDataDirect)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_, _ = Build(p.Conn)
	}
}

// BenchmarkPgconnParseConfig is the yardstick: pgx parsing the equivalent
// libpq DSN.
func BenchmarkPgconnParseConfig(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := pgconn.ParseConfig(benchLibPQ); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseLibPQ and BenchmarkParseURL measure the libpq and URL
// paths, which run pgconn.ParseConfig besides flowpg's own scan.
func BenchmarkParseLibPQ(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(benchLibPQ); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseURL(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(benchURL); err != nil {
			b.Fatal(err)
		}
	}
}

const benchURL = "postgres://aep_reader:s3cret%21@db.example.com:5432/sales?sslmode=verify-ca&application_name=etl"
