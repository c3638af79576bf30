// Package pgtest starts real PostgreSQL servers in Docker for tests and demos,
// as net/http/httptest starts HTTP servers.
//
// Each call to Start runs one container through testcontainers-go with the
// configuration its Options ask for: TLS off, on, required or TLS 1.3 only;
// a CA and a server certificate generated in-process (valid, wrong SAN,
// expired, self-signed or expiring soon); a small max_connections. Every
// server has the same database, users and sample tables (see the constants).
//
// Images: by default flowpg.local/postgres:15 and flowpg.local/postgres:17,
// built offline by integration/build-images.sh. FLOWPG_TEST_PG_IMAGES, a
// comma-separated list of image references such as "postgres:15,postgres:17",
// replaces them on machines that can pull images.
//
// Importing the package sets TESTCONTAINERS_RYUK_DISABLED=true and
// TESTCONTAINERS_HOST_OVERRIDE=localhost unless they are already set: Ryuk's
// image cannot be pulled here, and without the override testcontainers dials
// the default gateway because these machines have a /.dockerenv file. Without
// Ryuk, cleanup is Close's job (StartT registers it).
//
// On a fresh machine, as root:
//
//	integration/docker-up.sh      # starts a Docker engine if none answers
//	integration/build-images.sh   # builds the two images, about 1.5 min
//	go test ./integration/
package pgtest

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/jackc/pgx/v5"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	"github.com/testcontainers/testcontainers-go/modules/postgres"
	"github.com/testcontainers/testcontainers-go/wait"
)

// Fixed names and credentials present on every server started by Start. The
// passwords are URL-safe, because testcontainers does not escape them.
const (
	// Database has the sample tables (SampleTables) and view (SampleView).
	Database = "sample"

	// SuperUser is the bootstrap superuser.
	SuperUser = "postgres"
	// SuperPassword is SuperUser's password.
	SuperPassword = "postgres-pw"

	// ScramUser has a SCRAM-SHA-256 password and may SELECT every sample table and the view.
	ScramUser = "aep_scram"
	// ScramPassword is ScramUser's password.
	ScramPassword = "scram-pw-1"

	// MD5User has an md5-hashed password and an md5 pg_hba line, and may
	// SELECT every sample table and the view.
	MD5User = "aep_md5"
	// MD5Password is MD5User's password.
	MD5Password = "md5-pw-1"

	// NoReadUser may CONNECT to Database and USE its schemas, but SELECT
	// nothing: reading a sample table fails with SQLSTATE 42501.
	NoReadUser = "aep_noread"
	// NoReadPassword is NoReadUser's password.
	NoReadPassword = "noread-pw-1"
)

// TLSMode selects how a server offers TLS.
type TLSMode int

const (
	// TLSOff offers no TLS; a client that requires it fails.
	TLSOff TLSMode = iota
	// TLSOn offers TLS and accepts plaintext too.
	TLSOn
	// TLSRequired has only hostssl lines in pg_hba, plus "hostnossl all all all
	// reject", so a plaintext login fails with SQLSTATE 28000.
	TLSRequired
	// TLS13Only is TLSOn with ssl_min_protocol_version=TLSv1.3, so a client
	// capped at TLS 1.2 fails the handshake.
	TLS13Only
)

// String returns the constant's name without its prefix, as used in test names.
func (m TLSMode) String() string {
	switch m {
	case TLSOff:
		return "Off"
	case TLSOn:
		return "On"
	case TLSRequired:
		return "Required"
	case TLS13Only:
		return "TLS13Only"
	}
	return fmt.Sprintf("TLSMode(%d)", int(m))
}

// Options configures one server. The zero value is a PostgreSQL of the first
// of Versions() with TLS off.
type Options struct {
	// Version is the PostgreSQL major version, one of Versions(); "" means Versions()[0].
	Version string
	// Image, when set, is run instead of the image chosen from Version.
	Image string
	// TLS says whether and how the server offers TLS.
	TLS TLSMode
	// Cert is the server certificate presented when TLS is not TLSOff.
	Cert CertKind
	// MaxConnections, when positive, is how many sessions of non-superusers
	// the server admits at once: max_connections is set to MaxConnections+1
	// with one slot reserved for superusers. With 1, a second concurrent
	// session of a non-superuser fails with SQLSTATE 53300. 0 keeps the
	// server's default.
	MaxConnections int
	// ECDHCurve, when set, is the server's ssl_ecdh_curve, such as
	// "secp384r1": the one elliptic curve PostgreSQL up to 17 offers for the
	// TLS key exchange. "" keeps the server's default, prime256v1 (P-256).
	ECDHCurve string
}

// Server is a running PostgreSQL container. Its fields are read-only.
type Server struct {
	// Host is the address to dial: "127.0.0.1" (an IP SAN of CertValid)
	// unless the Docker engine is remote.
	Host string
	// Port is the host port mapped to the server's 5432.
	Port int
	// Version is the major version the server reports, such as "17".
	Version string
	// Image is the image the container runs.
	Image string
	// Options are the options the server was started with, defaults filled in.
	Options Options

	// CA is the generated CA. With CertSelfSigned it did not sign Cert.
	CA *x509.Certificate
	// CAPEM is CA, PEM-encoded.
	CAPEM []byte
	// CAFile is a temporary file holding CAPEM, removed by Close.
	CAFile string
	// Cert is the server certificate in use, nil when TLS is TLSOff.
	Cert *x509.Certificate

	ctr       *postgres.PostgresContainer
	dir       string
	closeOnce sync.Once
	closeErr  error
}

// ImagesEnv is the environment variable that replaces the default images.
const ImagesEnv = "FLOWPG_TEST_PG_IMAGES"

// image is one image under test and the major version it is filed under.
type image struct{ version, ref string }

var defaultImages = []image{
	{"15", "flowpg.local/postgres:15"},
	{"17", "flowpg.local/postgres:17"},
}

// majorInTag finds the major version at the start of an image tag: "17" in
// postgres:17, postgres:17.2-alpine or my.registry:5000/postgres:17-bookworm.
var majorInTag = regexp.MustCompile(`:(\d+)[^:/]*$`)

// curveName is what an OpenSSL curve name looks like: prime256v1, secp384r1.
var curveName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,40}$`)

// images returns the images under test, from ImagesEnv if set. An image whose
// tag does not start with a version is filed under its whole reference.
func images() []image {
	env := strings.TrimSpace(os.Getenv(ImagesEnv))
	if env == "" {
		return defaultImages
	}
	var out []image
	for ref := range strings.SplitSeq(env, ",") {
		ref = strings.TrimSpace(ref)
		if ref == "" {
			continue
		}
		v := ref
		if m := majorInTag.FindStringSubmatch(ref); m != nil {
			v = m[1]
		}
		out = append(out, image{v, ref})
	}
	if len(out) == 0 {
		return defaultImages
	}
	return out
}

// Versions returns the PostgreSQL major versions under test: "15" and "17" by
// default, else one per image in FLOWPG_TEST_PG_IMAGES (the leading number of
// its tag, or the whole reference when the tag has none).
func Versions() []string {
	imgs := images()
	out := make([]string, len(imgs))
	for i, img := range imgs {
		out[i] = img.version
	}
	return out
}

// ImageFor returns the image that Start runs for a version from Versions().
func ImageFor(version string) (string, error) {
	imgs := images()
	if version == "" {
		return imgs[0].ref, nil
	}
	for _, img := range imgs {
		if img.version == version {
			return img.ref, nil
		}
	}
	return "", fmt.Errorf("pgtest: no image for PostgreSQL %q; versions under test: %s", version, strings.Join(Versions(), ", "))
}

const (
	// startDeadline bounds the wait for the server's second "ready" line.
	startDeadline = 90 * time.Second
	// pingDeadline bounds the first successful login after that.
	pingDeadline = 20 * time.Second
)

// ParallelEnv is the environment variable that sets how many servers one
// process starts at once (default 4); more wait their turn. Starting costs an
// initdb, and the machines have two cores shared with other work. Running
// servers are not limited.
const ParallelEnv = "FLOWPG_TEST_PG_PARALLEL"

var startTurns = sync.OnceValue(func() chan struct{} {
	n, err := strconv.Atoi(os.Getenv(ParallelEnv))
	if err != nil || n < 1 {
		n = 4
	}
	return make(chan struct{}, n)
})

// startTurn waits until fewer than ParallelEnv servers are starting, and
// returns the function that ends this start's turn.
func startTurn(ctx context.Context) (release func(), err error) {
	turns := startTurns()
	select {
	case turns <- struct{}{}:
		return func() { <-turns }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("pgtest: waiting to start (%s=%d): %w", ParallelEnv, cap(turns), ctx.Err())
	}
}

func init() {
	setenvDefault("TESTCONTAINERS_RYUK_DISABLED", "true")
	setenvDefault("TESTCONTAINERS_HOST_OVERRIDE", "localhost")
}

func setenvDefault(key, value string) {
	if _, ok := os.LookupEnv(key); !ok {
		_ = os.Setenv(key, value)
	}
}

// Start runs a server configured by opts and returns once SuperUser can log
// in. The caller must Close it; on error nothing is left running. ctx bounds
// the whole start.
func Start(ctx context.Context, opts Options) (*Server, error) {
	s, err := start(ctx, opts, nil)
	if err != nil {
		if s != nil {
			_ = s.Close(context.WithoutCancel(ctx))
		}
		return nil, err
	}
	return s, nil
}

// start does Start's work. When it has created anything, it returns a Server
// (even with an error) so that the caller can clean it up its own way.
// A nil logger means testcontainers' default.
func start(ctx context.Context, opts Options, logger tclog.Logger) (*Server, error) {
	img, err := opts.image()
	if err != nil {
		return nil, err
	}
	mat, err := newTLSMaterial(opts.Cert, time.Now())
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "flowpg-pgtest-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	s := &Server{
		Host:    "127.0.0.1",
		Image:   img,
		Options: opts,
		CA:      mat.ca,
		CAPEM:   mat.caPEM,
		CAFile:  filepath.Join(dir, "ca.pem"),
		dir:     dir,
	}
	if err := os.WriteFile(s.CAFile, mat.caPEM, 0o644); err != nil {
		return s, fmt.Errorf("pgtest: %w", err)
	}
	if opts.TLS != TLSOff {
		s.Cert = mat.leaf
	}
	// Only starting is limited, never a server's lifetime: a test holding a
	// server while its parallel subtests wait for go test's own -parallel
	// slots would otherwise deadlock with tests waiting here.
	release, err := startTurn(ctx)
	if err != nil {
		return s, err
	}
	defer release()
	sweepOrphans(ctx)
	return s, s.run(ctx, customizers(opts, mat, logger))
}

// image validates o, fills in the default version, and returns the image
// to run.
func (o *Options) image() (string, error) {
	img := o.Image
	if img == "" {
		var err error
		if img, err = ImageFor(o.Version); err != nil {
			return "", err
		}
	}
	if o.Version == "" && o.Image == "" {
		o.Version = Versions()[0]
	}
	if o.TLS < TLSOff || o.TLS > TLS13Only {
		return "", fmt.Errorf("pgtest: unknown %v", o.TLS)
	}
	if o.MaxConnections < 0 {
		return "", fmt.Errorf("pgtest: negative MaxConnections %d", o.MaxConnections)
	}
	if o.ECDHCurve != "" && !curveName.MatchString(o.ECDHCurve) {
		return "", fmt.Errorf("pgtest: ECDHCurve %q is not a curve name", o.ECDHCurve)
	}
	return img, nil
}

// customizers configures the container: the superuser, pg_hba.conf, the
// sample tables, the server's flags and, with TLS, its key pair.
func customizers(opts Options, mat *tlsMaterial, logger tclog.Logger) []testcontainers.ContainerCustomizer {
	files := []testcontainers.ContainerFile{
		{Reader: strings.NewReader(hbaConf(opts.TLS)), ContainerFilePath: hbaPath, FileMode: 0o644},
		{Reader: strings.NewReader(initSQL()), ContainerFilePath: initDir + "/20-flowpg-sample.sql", FileMode: 0o644},
	}
	if opts.TLS != TLSOff {
		files = append(files,
			testcontainers.ContainerFile{Reader: strings.NewReader(string(mat.leafPEM)), ContainerFilePath: tlsCertPath, FileMode: 0o644},
			// World-readable only until tlsInitScript copies it into PGDATA with mode 0600.
			testcontainers.ContainerFile{Reader: strings.NewReader(string(mat.keyPEM)), ContainerFilePath: tlsKeyPath, FileMode: 0o644},
			testcontainers.ContainerFile{Reader: strings.NewReader(tlsInitScript(opts.TLS)), ContainerFilePath: initDir + "/10-flowpg-tls.sh", FileMode: 0o755},
		)
	}
	custom := []testcontainers.ContainerCustomizer{
		postgres.WithUsername(SuperUser),
		postgres.WithPassword(SuperPassword),
		postgres.WithDatabase(Database),
		// initdb's final fsync of the new cluster takes over a second here
		// and protects nothing in a throwaway container.
		testcontainers.WithEnv(map[string]string{"POSTGRES_INITDB_ARGS": "--no-sync"}),
		testcontainers.WithFiles(files...),
		testcontainers.WithCmd(serverArgs(opts)...),
		testcontainers.WithLabels(ownerLabels()),
		// The official contract: the temporary init server and then the real
		// one each log this line once.
		testcontainers.WithWaitStrategyAndDeadline(startDeadline,
			wait.ForLog("database system is ready to accept connections").WithOccurrence(2),
			wait.ForListeningPort("5432/tcp"),
		),
	}
	if logger != nil {
		custom = append([]testcontainers.ContainerCustomizer{testcontainers.WithLogger(logger)}, custom...)
	}
	return custom
}

// run starts s's container, learns its address, and logs in once.
func (s *Server) run(ctx context.Context, custom []testcontainers.ContainerCustomizer) error {
	img := s.Image
	ctr, err := postgres.Run(ctx, img, custom...)
	if ctr != nil {
		s.ctr = ctr
	}
	if err != nil {
		return fmt.Errorf("pgtest: start %s: %w%s", img, err, s.logTail(ctx))
	}
	host, err := ctr.Host(ctx)
	if err != nil {
		return fmt.Errorf("pgtest: %s: host: %w", img, err)
	}
	// One address rather than localhost's two; CertValid has it as an IP SAN.
	if host != "localhost" {
		s.Host = host
	}
	port, err := ctr.MappedPort(ctx, "5432/tcp")
	if err != nil {
		return fmt.Errorf("pgtest: %s: mapped port: %w", img, err)
	}
	s.Port = int(port.Num())
	if s.Version, err = s.ping(ctx); err != nil {
		return fmt.Errorf("pgtest: %s: first login: %w%s", img, err, s.logTail(ctx))
	}
	return nil
}

// ping logs in as SuperUser until it works or pingDeadline passes, and
// returns the server's major version.
func (s *Server) ping(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, pingDeadline)
	defer cancel()
	sslmode := "require"
	if s.Options.TLS == TLSOff {
		sslmode = "disable"
	}
	dsn := s.ConnString(Database, SuperUser, SuperPassword, sslmode)
	for {
		v, err := func() (string, error) {
			conn, err := pgx.Connect(ctx, dsn)
			if err != nil {
				return "", err
			}
			defer conn.Close(context.WithoutCancel(ctx))
			var v string
			err = conn.QueryRow(ctx, "SELECT (current_setting('server_version_num')::int / 10000)::text").Scan(&v)
			return v, err
		}()
		if err == nil {
			return v, nil
		}
		select {
		case <-ctx.Done():
			return "", err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// logTail returns the end of the container's log, for error messages.
func (s *Server) logTail(ctx context.Context) string {
	if s.ctr == nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	logs, err := s.Logs(ctx)
	if err != nil || logs == "" {
		return ""
	}
	lines := strings.Split(strings.TrimRight(logs, "\n"), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return "\ncontainer log (tail):\n" + strings.Join(lines, "\n")
}

// Logs returns what the container has logged so far. log_connections is on,
// so each password login logs a line such as
// `connection authenticated: identity="aep_md5" method=md5 (/flowpg/pg_hba.conf:3)`.
func (s *Server) Logs(ctx context.Context) (string, error) {
	if s.ctr == nil {
		return "", errors.New("pgtest: no container")
	}
	rc, err := s.ctr.Logs(ctx)
	if err != nil {
		return "", fmt.Errorf("pgtest: logs: %w", err)
	}
	defer rc.Close()
	var b strings.Builder
	if _, err := io.Copy(&b, rc); err != nil {
		return b.String(), fmt.Errorf("pgtest: logs: %w", err)
	}
	return b.String(), nil
}

// CPUTime returns the CPU time the server's container has used so far: the
// postmaster and every backend, as the Docker engine counts it. A benchmark
// reads it before and after a batch to tell what the batch cost the server,
// which on a small machine shares the cores with the client.
func (s *Server) CPUTime(ctx context.Context) (time.Duration, error) {
	if s.ctr == nil {
		return 0, errors.New("pgtest: no container")
	}
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return 0, fmt.Errorf("pgtest: cpu time: %w", err)
	}
	defer cli.Close()
	res, err := cli.ContainerStats(ctx, s.ctr.GetContainerID(), client.ContainerStatsOptions{})
	if err != nil {
		return 0, fmt.Errorf("pgtest: cpu time: %w", err)
	}
	defer res.Body.Close()
	var st container.StatsResponse
	if err := json.NewDecoder(res.Body).Decode(&st); err != nil {
		return 0, fmt.Errorf("pgtest: cpu time: %w", err)
	}
	return time.Duration(st.CPUStats.CPUUsage.TotalUsage), nil
}

// Close removes the container, without waiting for a clean shutdown, and the
// temporary files. It is safe to call more than once, and after StartT's cleanup.
func (s *Server) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		var errs []error
		if s.ctr != nil {
			// Already gone is fine: StartT's CleanupContainer may have run first.
			if err := s.ctr.Terminate(ctx, testcontainers.StopTimeout(0)); err != nil && !errdefs.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("pgtest: terminate: %w", err))
			}
		}
		if s.dir != "" {
			if err := os.RemoveAll(s.dir); err != nil {
				errs = append(errs, fmt.Errorf("pgtest: %w", err))
			}
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// DSN returns a libpq keyword/value connection string for user to Database.
//
// With TLS off it says sslmode=disable. Otherwise it says sslmode=verify-full
// and sslrootcert=CAFile, as a careful client would, whatever the Cert kind:
// it connects with CertValid and CertExpiringSoon, and the other kinds fail
// verification (which is what they are for). To connect to those anyway,
// use ConnString with sslmode "require".
func (s *Server) DSN(user, password string) string {
	return s.ConnString(Database, user, password, "")
}

// ConnString is DSN with the database and sslmode chosen by the caller; an
// empty sslmode means DSN's choice. sslrootcert=CAFile is added for
// verify-ca and verify-full only, since libpq (and pgx) turn "require" with a
// root certificate into verify-ca.
func (s *Server) ConnString(database, user, password, sslmode string) string {
	if sslmode == "" {
		sslmode = "disable"
		if s.Options.TLS != TLSOff {
			sslmode = "verify-full"
		}
	}
	kv := []string{
		"host", s.Host,
		"port", fmt.Sprint(s.Port),
		"dbname", database,
		"user", user,
		"password", password,
		"sslmode", sslmode,
	}
	if sslmode == "verify-ca" || sslmode == "verify-full" {
		kv = append(kv, "sslrootcert", s.CAFile)
	}
	var b strings.Builder
	for i := 0; i < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(kv[i])
		b.WriteByte('=')
		b.WriteString(quoteDSNValue(kv[i+1]))
	}
	return b.String()
}

// quoteDSNValue quotes a libpq keyword value when it is empty or holds
// spaces, quotes or backslashes.
func quoteDSNValue(v string) string {
	if v != "" && !strings.ContainsAny(v, " \t\n\r'\\") {
		return v
	}
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`)
	return "'" + r.Replace(v) + "'"
}

// CAPool returns a pool holding only the generated CA: a trust store for a
// client that trusts this test CA, such as the emulator playing an Adobe
// that does (flowtest.WithTrustStore).
func (s *Server) CAPool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(s.CA)
	return p
}
