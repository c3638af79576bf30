package preflight

import (
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// AuthDetails are the findings of the auth stage.
type AuthDetails struct {
	User string `json:"user"`
	// Method is the authentication the server asked for (see the Auth*
	// constants); empty when the server refused before asking.
	Method         string   `json:"method,omitempty"`
	SASLMechanisms []string `json:"saslMechanisms,omitempty"`
	SQLState       string   `json:"sqlState,omitempty"`
	ServerMessage  string   `json:"serverMessage,omitempty"`
}

func (r *runner) authStage(c *connResult) Result {
	res := Result{ID: StageAuth, Status: Pass}
	d := &AuthDetails{User: r.conn.User}
	res.Details = d
	fin := c.final()
	if fin == nil {
		return res
	}
	_, _, res.Duration = fin.phaseTimes(c.end)
	fin.mu.Lock()
	d.Method, d.SASLMechanisms = fin.authMethod, fin.saslMechs
	if fin.pgErr != nil {
		d.SQLState, d.ServerMessage = fin.pgErr.Code, r.external(fin.pgErr.Message)
	}
	fin.mu.Unlock()

	res.Message = fmt.Sprintf("logged in as %q with %s", r.conn.User, d.Method)
	switch d.Method {
	case AuthMD5:
		res.Status, res.Field = Warn, FieldUsername
		res.Message += ": md5 is deprecated (PostgreSQL 18 warns about md5 passwords)"
		res.Remediation = "set password_encryption = 'scram-sha-256', reset the user's password, and use scram-sha-256 in pg_hba.conf"
	case AuthPassword:
		res.Status, res.Field = Warn, FieldUsername
		res.Message += ": the password is sent as is"
		if !fin.usedTLS() {
			res.Message += ", and this connection is not encrypted"
		}
		res.Remediation = "use scram-sha-256 in pg_hba.conf"
	case AuthTrust:
		res.Status, res.Field = Warn, FieldUsername
		res.Message = fmt.Sprintf("logged in as %q without a password: the server did not ask for one (trust)", r.conn.User)
		res.Remediation = "require scram-sha-256 for this user in pg_hba.conf"
	}
	return res
}

// withheldFailure explains a guarded attempt that stopped before answering
// the server's request for the password (see attempt.withhold): what the
// server would have received in that mode, which is the finding.
func (r *runner) withheldFailure(a *attempt) *failure {
	f := &failure{stage: StageAuth, field: FieldSSLMode, kind: KindPasswordWithheld}
	what := "the password in cleartext"
	switch a.withheld {
	case AuthMD5:
		what = "the password as an MD5 hash (which a listener can crack or replay)"
	case AuthSCRAM, AuthSASL:
		what = "a SCRAM password exchange"
	}
	over := "over an unencrypted connection"
	if a.usedTLS() {
		over = "over TLS whose certificate " + a.guard.LibPQ() + " would not accept"
	}
	why := "the input asks for " + a.guard.LibPQ()
	if a.withheld == AuthSCRAM || a.withheld == AuthSASL {
		why = "a pin is set: no password before a pinned certificate"
	}
	f.message = fmt.Sprintf("the server asks for %s %s: a client in this mode would answer; flowpg did not (%s)", what, over, why)
	f.remediation = "use scram-sha-256 in pg_hba.conf, and an sslMode with TLS"
	return f
}

// serverFailure explains an ErrorResponse received during startup. The
// SQLSTATE decides, with the routine that raised it or what the wire showed
// where one SQLSTATE covers several causes. The server's message text is
// quoted where it tells more than the explanation (it never contains the
// password), and left out where it would only say the same again; the
// auth stage's details keep it either way.
func (r *runner) serverFailure(a *attempt, e *pgconn.PgError, tlsOffered bool) *failure {
	f := &failure{stage: StageAuth, kind: KindServer, pgErr: e}
	quoted := r.serverText(e)
	user := r.conn.User
	switch e.Code {
	case "28P01":
		// The server answers a user that does not exist exactly as a wrong
		// password, on purpose (it runs a mock exchange), so that no one can
		// probe for user names: no field can be blamed alone.
		f.field = ""
		f.message = fmt.Sprintf("user %q does not exist or the password is wrong (SQLSTATE 28P01: the server does not say which, on purpose)", user)
		f.remediation = credentialsFix
	case "28000":
		return r.loginRefused(a, e, f, tlsOffered)
	case "3D000":
		f.field = FieldDatabase
		f.message = fmt.Sprintf("database %q does not exist (SQLSTATE 3D000)", r.conn.Database)
		f.remediation = "check database (names are case-sensitive); list them with psql -l"
	case "42501":
		f.field = FieldUsername
		f.message = fmt.Sprintf("user %q may not connect: %s", user, quoted)
		f.remediation = fmt.Sprintf("GRANT CONNECT ON DATABASE %s TO %s", quoteIdent(r.conn.Database), quoteIdent(user))
	case "53300":
		f.field = FieldServer
		f.message = "the server has no free connection slot (too many connections): " + quoted
		f.remediation = "close idle sessions or raise max_connections (or the role's CONNECTION LIMIT); AEP's ingestion needs spare slots"
	case "57P03":
		f.field = FieldServer
		f.message = "the server is starting up, shutting down or in recovery and does not accept connections yet: " + quoted
		f.remediation = "retry in a moment; if it persists, check the server's state"
	default:
		f.field = ""
		f.message = "the server refused the connection: " + quoted
		f.remediation = "see the SQLSTATE in PostgreSQL's documentation (Appendix A) and the server's log"
	}
	return f
}

// credentialsFix is the remediation when the server refused the user name
// and password together.
const credentialsFix = "check username and password; if the password contains ; { } or =, pass it through basic authentication rather than the connection string"

// Routines, from an ErrorResponse's R field (the server function that
// raised it), that tell apart the steps of a login refused with SQLSTATE
// 28000. PostgreSQL 15 and 17 send these names (the integration tests see
// them); a proxy that rebuilds errors may send none, and then the wire tells
// (see loginStepOf).
const (
	routineHBA    = "ClientAuthentication"    // pg_hba.conf: no line admits the client, or a reject line matched
	routineMethod = "auth_failed"             // the matching line's method failed; for password methods the SQLSTATE is 28P01 instead
	routineRole   = "InitializeSessionUserId" // after authentication: the role may not log in, or does not exist
)

// loginStep is the step of a login at which the server refused it.
type loginStep int

const (
	stepHBA    loginStep = iota // before any authentication request
	stepMethod                  // the authentication method failed
	stepRole                    // after AuthenticationOk: the role itself
)

// loginStepOf says at which step the server refused a's login with e: from
// the routine that raised e, else from what a showed on the wire. The
// server checks pg_hba.conf before it asks for anything, and the role only
// after it sent AuthenticationOk.
func loginStepOf(a *attempt, e *pgconn.PgError) loginStep {
	switch e.Routine {
	case routineRole:
		return stepRole
	case routineMethod:
		return stepMethod
	case routineHBA:
		return stepHBA
	}
	switch {
	case a.authOK:
		return stepRole
	case a.authMethod != "":
		return stepMethod
	}
	return stepHBA
}

// checksRoleSecret reports whether the server verifies a password with
// method m against the role's own stored secret, so that a verified one
// proves the role exists. A cleartext password does not: LDAP, PAM and
// RADIUS ask for one too, and check it elsewhere.
func checksRoleSecret(m string) bool {
	return m == AuthSCRAM || m == AuthMD5
}

// loginRefused explains a 28000, which covers pg_hba.conf's refusals, a
// failed authentication method other than a password one, and a role that
// may not log in.
func (r *runner) loginRefused(a *attempt, e *pgconn.PgError, f *failure, tlsOffered bool) *failure {
	quoted := r.serverText(e)
	user := r.conn.User
	switch loginStepOf(a, e) {
	case stepRole:
		f.field = FieldUsername
		if checksRoleSecret(a.authMethod) && a.authOK {
			// The role's own password was verified, so the role exists.
			f.message = fmt.Sprintf("user %q may not log in: the role lacks the LOGIN attribute (SQLSTATE 28000)", user)
			f.remediation = fmt.Sprintf("ALTER ROLE %s LOGIN", quoteIdent(user))
			return f
		}
		// Nothing proved the role exists (trust, a password checked
		// elsewhere, or a method the wire did not show): it may as well
		// not. The server's text says which.
		f.message = fmt.Sprintf("the server refused user %q after authentication: %s", user, quoted)
		f.remediation = fmt.Sprintf("check username; if the role exists, ALTER ROLE %s LOGIN", quoteIdent(user))
		return f
	case stepMethod:
		if a.authMethod == AuthPassword {
			// A cleartext password asked for with 28000 on failure: LDAP,
			// PAM, RADIUS or BSD authentication.
			f.message = fmt.Sprintf("user %q does not exist or the password is wrong: %s", user, quoted)
			f.remediation = credentialsFix
			return f
		}
		f.field = FieldUsername
		f.message = "the pg_hba.conf line for this user, database and client address asks for an authentication method other than a password, and it failed: " + quoted
		f.remediation = "AEP logs in with a user name and a password only: use scram-sha-256 on the pg_hba.conf line that admits AEP's IP ranges, and reload"
		return f
	}
	// pg_hba's refusal of a plaintext connection that a hostssl line would
	// have accepted carries no structured marker: the server only appends
	// ", no encryption" to the message text. So it is recognised
	// structurally first (this attempt was plaintext and the server does
	// offer TLS), and by that suffix only as a fallback.
	if !a.usedTLS() && (tlsOffered || strings.HasSuffix(e.Message, "no encryption")) {
		f.stage, f.field = StageSSLMode, FieldSSLMode
		f.message = "the server refuses unencrypted connections (pg_hba.conf allows only hostssl here): " + quoted
		f.remediation = "use an sslMode with TLS: Verify Full, Verify Ca or Require (EncryptionMethod=1)"
		return f
	}
	f.field = FieldUsername
	f.message = "the server's pg_hba.conf does not admit this user, database and client address: " + quoted
	f.remediation = "add a pg_hba.conf line for AEP's IP ranges, e.g. hostssl <database> <user> <cidr> scram-sha-256, and reload; check username and database"
	return f
}

// Authentication methods reported in AuthDetails.Method.
const (
	AuthSCRAM    = "SCRAM-SHA-256"
	AuthMD5      = "md5"
	AuthPassword = "password" // cleartext
	AuthTrust    = "trust"    // no password asked (trust, peer, or certificate-only)
	AuthGSS      = "gss"
	AuthSSPI     = "sspi"
	AuthSASL     = "sasl" // SASL without SCRAM, e.g. OAUTHBEARER only
	AuthUnknown  = "unknown"
)
