// Package preflight proves, stage by stage, that a PostgreSQL connection
// described by a connstr.Conn works the way AEP will use it: the address is
// reachable, TLS behaves as the sslmode says, the credentials log in, and the
// user can list and read tables. Every stage reports a status, a duration, a
// plain-language message, the input field to blame and a remediation.
//
// One connection, made with pgx's pgconn, serves every stage: its hooks time
// and observe DNS (LookupFunc), TCP (DialFunc), TLS (AfterNetConnect and the
// tls.Config's VerifyConnection) and authentication (a reader above TLS that
// sees which method the server asks for), and the post-login queries run in
// one pipelined round trip. Extra dials happen only for the sslmode audit,
// for a TLS probe when the chosen sslmode does not use TLS, and for the one
// retry of a server that refuses every key-exchange group of the first
// ClientHello. That ClientHello carries a P-256 key share, PostgreSQL's
// default group, so the TLS handshake with a default server takes one round
// trip (see internal/pgtls).
//
// The package knows nothing about Adobe's APIs, and never puts the password
// in a report, a message or an error.
package preflight
