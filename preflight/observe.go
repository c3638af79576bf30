package preflight

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/flowpg/flowpg/connstr"
	"github.com/flowpg/flowpg/internal/pgtls"
)

// attempt records what one dial of a connection attempt showed on the wire.
// pgconn tries its fallbacks (one per address, and for allow/prefer one per
// TLS choice) one after another; each gets its own attempt.
//
// Locking. The fields above mu are set when the attempt is made and never
// change: anyone reads them without mu. mu guards every field below it,
// and who may touch those depends on the attempt's life:
//   - Live: from the moment the attempt is shared (observer.begin hands it
//     out; probeTLS shares it when it wires the socket) until the call that
//     made it (runner.connect, probeTLS) returns. pgconn's hooks and the
//     conns over its socket (dialHook, wireConn, handshake, msgConn,
//     pgErrorHook, assignErrors) write it, on whichever goroutine pgconn
//     runs them, and the next attempt's dial hook reads it through the
//     observer. Every read and write then holds mu.
//   - Settled: once that call has returned to its goroutine, or to one that
//     joined it (extraDials' WaitGroup and probe channel), no field changes
//     any more but ioErr, which the socket's I/O may still set while the
//     connection lives (the checked connection runs its queries on it).
//     Stage and audit code reads settled fields without mu, and ioErr only
//     with it.
type attempt struct {
	address string
	// late marks an attempt begun after the run's time was up (pgconn
	// still tries a fallback then): its dial fails at once and shows
	// nothing about the server.
	late      bool
	dialStart time.Time
	// guard is set on the audit's own attempts: the mode whose protection a
	// password must have before it leaves (see withhold). Unset on the
	// checked connection and on the connection's own mode: those are the
	// user's choice.
	guard connstr.SSLMode
	// pinned is set on guarded attempts of a run with pins: no password
	// exchange at all, SCRAM included, before a pinned certificate.
	pinned bool

	mu sync.Mutex

	dialEnd time.Time
	dialErr error

	// SSLRequest and the server's one-byte answer ('S' or 'N').
	sslRequested bool
	sslAnswered  bool
	sslResponse  byte

	// TLS handshake, run explicitly in AfterNetConnect so it can be timed.
	watch        *pgtls.Watcher // the raw connection's first TLS record from the server
	groupRetry   bool           // the server refused the first ClientHello; a second connection offered Go's default groups
	handshakeEnd time.Time
	handshakeErr error
	tlsState     *tls.ConnectionState
	peerCerts    []*x509.Certificate
	cert         *certCheck // our verification of peerCerts
	certRejected error      // set when our verification aborted the handshake

	// Startup and authentication, observed from the backend messages.
	startupSent   bool
	authStart     time.Time
	authMethod    string   // first authentication request: SCRAM-SHA-256, md5, password, trust…
	saslMechs     []string // mechanisms offered in AuthenticationSASL
	authOK        bool     // AuthenticationOk seen
	serverError   bool     // ErrorResponse seen during startup
	ready         bool     // ReadyForQuery seen
	readyAt       time.Time
	bytesReceived int

	pgErr *pgconn.PgError // the server's error during startup, if any
	err   error           // pgconn's error for this attempt, if it failed
	// ioErr is the first error reading or writing the raw connection: what
	// ended an attempt on I/O, kept because pgconn forgets the errors of an
	// attempt that a fallback replaced.
	ioErr error
	// withheld is the method (AuthPassword, AuthMD5, or with pins also
	// AuthSCRAM) whose answer the guard refused to send; the attempt was
	// then closed.
	withheld string
}

// errPasswordWithheld fails a guarded attempt at the point where it would
// have sent the password, or its MD5 hash, to a connection weaker than the
// input asks for.
var errPasswordWithheld = errors.New("preflight: password not sent: the connection is weaker than the one the input asks for")

// withhold reports whether a, about to write to the server during startup,
// must not: a guarded attempt whose server asked for the password in
// cleartext or as MD5 (which a listener can replay or crack) over a
// connection that does not protect it as a.guard would. SCRAM reveals
// neither the password nor an equivalent, so it proceeds, except where pins
// are set: then no password exchange starts before a pinned certificate
// (a completed handshake; a chain that matches no pin aborts it), as the
// checked connection's own rule is. The caller holds a.mu.
func (a *attempt) withhold() bool {
	if a.guard == connstr.SSLModeUnset || a.authOK {
		return false
	}
	switch a.authMethod {
	case AuthPassword, AuthMD5:
		return !a.protects(a.guard)
	case AuthSCRAM, AuthSASL:
		return a.pinned && !a.usedTLS()
	}
	return false
}

// protects reports whether a's connection is as protected as mode m
// requires of the connection it sends a password on: Disable and Allow
// require nothing; Prefer and Require, TLS (Prefer would send in plaintext
// only to a server that refuses TLS, and then the checked connection sent
// it already); Verify Ca, TLS with a chain trusted by the roots; Verify
// Full, also the host name.
func (a *attempt) protects(m connstr.SSLMode) bool {
	switch {
	case m <= connstr.SSLAllow:
		return true
	case !a.usedTLS() || a.cert == nil:
		return false
	case m == connstr.SSLVerifyCA:
		return a.cert.chainErr == nil
	case m == connstr.SSLVerifyFull:
		return a.cert.chainErr == nil && a.cert.hostErr == nil
	}
	return true
}

// usedTLS reports whether the attempt completed a TLS handshake. tlsState
// alone is not enough: it is captured before our verification may reject
// the handshake.
func (a *attempt) usedTLS() bool {
	return a.tlsState != nil && !a.handshakeEnd.IsZero() && a.handshakeErr == nil && a.certRejected == nil
}

// phase names the furthest point the attempt reached, for classification.
type phase int

const (
	phaseDial phase = iota
	phaseSSLRequest
	phaseHandshake
	phaseStartup
	phaseReady
)

func (a *attempt) phase() phase {
	switch {
	case a.dialErr != nil || a.dialEnd.IsZero():
		return phaseDial
	case a.sslRequested && (!a.sslAnswered || a.sslResponse != 'S'):
		return phaseSSLRequest
	case a.sslRequested && !a.usedTLS():
		return phaseHandshake
	case !a.ready:
		return phaseStartup
	default:
		return phaseReady
	}
}

// observer hands out attempts. pgconn dials its fallbacks sequentially, so
// the hooks find "their" attempt as the latest one.
type observer struct {
	mu       sync.Mutex
	attempts []*attempt
	guard    connstr.SSLMode // given to every attempt
	pinned   bool            // given to every attempt
	// phase, when set, is told of each stage an attempt begins (entered
	// drops repeats: a fallback attempt goes through the same stages).
	phase   func(Stage)
	entered Stage
}

// enter tells phase that a stage began, once per stage in a row.
func (o *observer) enter(s Stage) {
	if o.phase == nil || o.entered == s {
		return
	}
	o.entered = s
	o.phase(s)
}

func (o *observer) begin(address string, late bool) *attempt {
	a := &attempt{address: address, dialStart: time.Now(), late: late, guard: o.guard, pinned: o.pinned}
	o.mu.Lock()
	o.attempts = append(o.attempts, a)
	o.mu.Unlock()
	return a
}

func (o *observer) current() *attempt {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.attempts) == 0 {
		return nil
	}
	return o.attempts[len(o.attempts)-1]
}

// rejected reports whether our verification refused the certificate of
// one of o's attempts.
func (o *observer) rejected() bool {
	for _, a := range o.list() {
		a.mu.Lock()
		r := a.certRejected != nil
		a.mu.Unlock()
		if r {
			return true
		}
	}
	return false
}

// notPostgres reports whether one of o's attempts had its SSLRequest
// answered with neither S nor N: not PostgreSQL (libpq gives up there too).
func (o *observer) notPostgres() bool {
	for _, a := range o.list() {
		a.mu.Lock()
		odd := a.sslAnswered && a.sslResponse != 'S' && a.sslResponse != 'N'
		a.mu.Unlock()
		if odd {
			return true
		}
	}
	return false
}

func (o *observer) list() []*attempt {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]*attempt(nil), o.attempts...)
}

// sslRequest is the 8-byte SSLRequest packet: length 8, code 80877103.
var sslRequest = []byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}

// wire wraps c, a raw connection of a, to observe it: a wireConn over a
// pgtls.Watcher, which a keeps (a retry's connection replaces the first).
func (a *attempt) wire(c net.Conn) net.Conn {
	w := pgtls.Watch(c)
	a.mu.Lock()
	a.watch = w
	a.mu.Unlock()
	return &wireConn{Conn: w, a: a}
}

// wireConn is the raw TCP connection. It sees the SSLRequest and the
// server's one-byte answer in the clear, before pgconn layers TLS on top.
type wireConn struct {
	net.Conn
	a *attempt
}

func (c *wireConn) Write(b []byte) (int, error) {
	c.a.mu.Lock()
	if !c.a.sslRequested && !c.a.startupSent {
		if bytes.Equal(b, sslRequest) {
			c.a.sslRequested = true
		} else {
			c.a.startupSent = true
		}
	}
	c.a.mu.Unlock()
	n, err := c.Conn.Write(b)
	if err != nil {
		c.a.ioFailed(err)
	}
	return n, err
}

func (c *wireConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.a.mu.Lock()
		if c.a.sslRequested && !c.a.sslAnswered {
			c.a.sslAnswered = true
			c.a.sslResponse = b[0]
		}
		c.a.mu.Unlock()
	}
	if err != nil {
		c.a.ioFailed(err)
	}
	return n, err
}

// ioFailed records the first I/O error of a's raw connection.
func (a *attempt) ioFailed(err error) {
	a.mu.Lock()
	if a.ioErr == nil {
		a.ioErr = err
	}
	a.mu.Unlock()
}

// msgConn sits above TLS, where the protocol is in the clear again. It parses
// the backend's message headers until ReadyForQuery to learn which
// authentication method the server asked for; pgconn does not expose it.
// After ReadyForQuery it only passes bytes through.
//
// On a guarded attempt it is also where the password is stopped: pgconn
// writes its PasswordMessage only after reading the request for it, which
// this conn has parsed by then, so a write that withhold refuses never
// reaches the socket.
type msgConn struct {
	net.Conn
	a    *attempt
	p    msgParser
	done bool
}

func (c *msgConn) Write(b []byte) (int, error) {
	if !c.done {
		c.a.mu.Lock()
		c.a.startupSent = true
		refuse := c.a.withhold()
		if refuse {
			c.a.withheld = c.a.authMethod
		}
		c.a.mu.Unlock()
		if refuse {
			_ = c.Conn.Close()
			return 0, errPasswordWithheld
		}
	}
	return c.Conn.Write(b)
}

func (c *msgConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 && !c.done {
		c.a.mu.Lock()
		c.a.bytesReceived += n
		c.done = c.p.feed(b[:n], c.a)
		c.a.mu.Unlock()
	}
	return n, err
}

// msgParser is a streaming reader of backend message headers. It keeps the
// body only of authentication requests, which are small.
type msgParser struct {
	hdr  [5]byte
	nhdr int
	typ  byte
	left int    // body bytes still to come
	body []byte // kept body of an 'R' message
}

const maxKeptBody = 4096

// feed consumes b and reports whether ReadyForQuery was seen.
func (p *msgParser) feed(b []byte, a *attempt) bool {
	for len(b) > 0 {
		if p.nhdr < 5 {
			k := copy(p.hdr[p.nhdr:], b)
			p.nhdr += k
			b = b[k:]
			if p.nhdr < 5 {
				return false
			}
			p.typ = p.hdr[0]
			p.left = int(binary.BigEndian.Uint32(p.hdr[1:])) - 4
			p.body = p.body[:0]
			if p.left < 0 {
				return true // not the protocol we know: stop looking
			}
		}
		k := min(p.left, len(b))
		if p.typ == 'R' && len(p.body)+k <= maxKeptBody {
			p.body = append(p.body, b[:k]...)
		}
		p.left -= k
		b = b[k:]
		if p.left > 0 {
			return false
		}
		p.nhdr = 0
		switch p.typ {
		case 'R':
			a.onAuthRequest(p.body)
		case 'E':
			a.serverError = true
		case 'Z':
			a.ready = true
			a.readyAt = time.Now()
			return true
		}
	}
	return false
}

// Authentication request codes of the backend's 'R' message.
const (
	authOK                = 0
	authKerberosV5        = 2
	authCleartextPassword = 3
	authMD5Password       = 5
	authGSS               = 7
	authSSPI              = 9
	authSASL              = 10
)

// onAuthRequest records the first method the server asked for; a bare
// AuthenticationOk first means the server asked for nothing (trust, peer
// or cert, which the server does not tell apart on the wire).
func (a *attempt) onAuthRequest(body []byte) {
	if len(body) < 4 {
		return
	}
	code := binary.BigEndian.Uint32(body)
	if code == authOK {
		a.authOK = true
		if a.authMethod == "" {
			a.authMethod = AuthTrust
		}
		return
	}
	if a.authMethod != "" {
		return // SASL continue/final messages
	}
	switch code {
	case authCleartextPassword:
		a.authMethod = AuthPassword
	case authMD5Password:
		a.authMethod = AuthMD5
	case authSASL:
		a.authMethod = AuthSASL
		for _, m := range bytes.Split(bytes.TrimRight(body[4:], "\x00"), []byte{0}) {
			a.saslMechs = append(a.saslMechs, string(m))
		}
		for _, m := range a.saslMechs {
			if m == "SCRAM-SHA-256" || m == "SCRAM-SHA-256-PLUS" {
				a.authMethod = AuthSCRAM
			}
		}
	case authGSS, authKerberosV5:
		a.authMethod = AuthGSS
	case authSSPI:
		a.authMethod = AuthSSPI
	default:
		a.authMethod = AuthUnknown
	}
}

// phaseTimes are the durations of a's TCP connect, SSLRequest and TLS
// handshake, and startup and authentication; zero for a phase a did not
// begin. A phase a began but did not finish (an error, the time limit, an
// interrupt) lasts until end, the end of the attempt, so that the time it
// waited shows: a server that never answers the SSLRequest spends the whole
// time limit in TLS.
func (a *attempt) phaseTimes(end time.Time) (tcp, tlsTime, auth time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	tcp = sub(a.dialEnd, a.dialStart)
	if a.dialErr != nil || a.dialEnd.IsZero() {
		return tcp, 0, 0
	}
	if a.sslRequested {
		tlsEnd := a.handshakeEnd
		if tlsEnd.IsZero() {
			tlsEnd = end
		}
		tlsTime = sub(tlsEnd, a.dialEnd)
	}
	if !a.authStart.IsZero() {
		authEnd := a.readyAt
		if !a.ready {
			authEnd = end
		}
		auth = sub(authEnd, a.authStart)
	}
	return tcp, tlsTime, auth
}

func sub(a, b time.Time) time.Duration {
	if a.IsZero() || b.IsZero() {
		return 0
	}
	return a.Sub(b)
}
