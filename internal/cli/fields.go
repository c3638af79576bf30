package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/flowpg/flowpg/connstr"
)

// Fields describe a connection field by field, for build and connect. The
// password comes from standard input, a file or $FLOWPG_PASSWORD; the
// --password flag works but is visible in ps and draws a warning.
type Fields struct {
	Server        string `help:"Database host name or address, as AEP will reach it."`
	Port          int    `default:"5432" help:"TCP port (1-65535)."`
	Database      string `help:"Database name."`
	User          string `help:"User name AEP logs in as."`
	SSLMode       string `name:"ssl-mode" default:"verify-full" help:"sslMode in any spelling: disable, allow, prefer, require, verify-ca, verify-full (Verify Ca, Verify-Full, … also accepted)."`
	PasswordFlags `embed:""`
}

// PasswordFlags say where a password comes from: standard input, a file or
// $FLOWPG_PASSWORD; --password works but is visible in ps and draws a
// warning.
type PasswordFlags struct {
	PasswordStdin bool   `name:"password-stdin" help:"Read the password from standard input (one line)."`
	PasswordFile  string `name:"password-file" type:"path" placeholder:"FILE" help:"Read the password from this file (a trailing newline is dropped)."`
	Password      string `help:"The password itself. Insecure: visible to other users in ps; prefer --password-stdin, --password-file or $$FLOWPG_PASSWORD."`
}

// given reports whether any identifying field was set.
func (f *Fields) given() bool { return f.Server != "" || f.Database != "" || f.User != "" }

// conn assembles and validates the connection the fields describe.
func (f *Fields) conn(streams *IO) (connstr.Conn, []connstr.Warning, error) {
	password, warns, err := f.password(streams)
	if err != nil {
		return connstr.Conn{}, nil, err
	}
	if f.Port < 1 || f.Port > 65535 {
		return connstr.Conn{}, warns, fmt.Errorf("--port %d is out of range 1-65535", f.Port)
	}
	mode, err := connstr.ParseSSLMode(f.SSLMode)
	if err != nil {
		return connstr.Conn{}, warns, err
	}
	conn := connstr.Conn{Server: f.Server, Port: f.Port, Database: f.Database, User: f.User, Password: password}
	warns = append(warns, conn.SetSSLMode(mode)...)
	return conn, warns, conn.Validate()
}

// password reads the password from the one source given, else from
// $FLOWPG_PASSWORD.
func (f *PasswordFlags) password(streams *IO) (string, []connstr.Warning, error) {
	n := 0
	for _, set := range []bool{f.PasswordStdin, f.PasswordFile != "", f.Password != ""} {
		if set {
			n++
		}
	}
	if n > 1 {
		return "", nil, errors.New("give the password one way only: --password-stdin, --password-file or --password")
	}
	switch {
	case f.PasswordStdin:
		pw, err := readSecret(streams.Stdin, "standard input")
		return pw, nil, err
	case f.PasswordFile != "":
		return readPasswordFile(f.PasswordFile)
	case f.Password != "":
		return f.Password, []connstr.Warning{{Code: connstr.WarnPasswordOnCommandLine, Field: "password",
			Message: "--password is visible to other users in ps; prefer --password-stdin, --password-file or $FLOWPG_PASSWORD"}}, checkSecret(f.Password, "--password")
	}
	// The environment is read here, not through a flag's env tag, so that a
	// password from the environment never triggers the ps warning.
	pw := streams.getenv("FLOWPG_PASSWORD")
	return pw, nil, checkSecret(pw, "$FLOWPG_PASSWORD")
}

// flagged reports whether a password flag was set ($FLOWPG_PASSWORD is not a
// flag: it is a default).
func (f *PasswordFlags) flagged() bool {
	return f.PasswordStdin || f.PasswordFile != "" || f.Password != ""
}

// checkStdin refuses --password-stdin beside a connection string read from
// standard input, before either is read.
func (f *PasswordFlags) checkStdin(in Input) error {
	if in.String == "-" && f.PasswordStdin {
		return errors.New("the connection string and --password-stdin cannot both come from standard input")
	}
	return nil
}

// fill gives conn, read from a connection string, the password of the
// flags or of $FLOWPG_PASSWORD when the string holds none. A flag beside a
// string that holds a password is an error, never a silent choice of one.
func (f *PasswordFlags) fill(streams *IO, conn *connstr.Conn) ([]connstr.Warning, error) {
	if conn.Password != "" {
		if f.flagged() {
			return nil, errors.New("the connection string holds a password and a password flag gives another: give it one way only (drop the flag, or Password= from the string)")
		}
		return nil, nil
	}
	pw, warns, err := f.password(streams)
	if err != nil {
		return nil, err
	}
	conn.Password = pw
	return warns, nil
}

// maxSecretSize bounds a password read from a file or standard input, as
// connstr.MaxInputSize bounds a connection string.
const maxSecretSize = 64 << 10

// Warning codes of password files.
const (
	warnSecretFilePermissions = "password-file-permissions"
	warnSecretFileSymlink     = "password-file-symlink"
)

// readPasswordFile reads a password file, bounded. Like psql with a .pgpass
// file, it warns when others may read the file, or when it is reached
// through a symlink, which someone else could redirect.
func readPasswordFile(path string) (string, []connstr.Warning, error) {
	var warns []connstr.Warning
	if lst, err := os.Lstat(path); err == nil && lst.Mode()&os.ModeSymlink != 0 {
		if st, err := os.Stat(path); err == nil && st.Mode().IsRegular() {
			warns = append(warns, connstr.Warning{Code: warnSecretFileSymlink, Field: "password",
				Message: fmt.Sprintf("the password file %s is reached through a symlink, which whoever can change it could point elsewhere: give the file itself", path)})
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return "", nil, fmt.Errorf("reading the password file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", nil, fmt.Errorf("reading the password file: %w", err)
	}
	if st.IsDir() {
		return "", nil, fmt.Errorf("the password file %s is a directory", path)
	}
	if st.Mode().IsRegular() && st.Mode().Perm()&0o077 != 0 {
		warns = append(warns, connstr.Warning{Code: warnSecretFilePermissions, Field: "password",
			Message: fmt.Sprintf("the password file %s can be read by other users (mode %04o): chmod 600 it", path, st.Mode().Perm())})
	}
	pw, err := readSecret(f, "the password file "+path)
	return pw, warns, err
}

// readSecret reads a password: one line of at most maxSecretSize bytes,
// without NUL bytes. One trailing line ending is dropped; more lines are an
// error, never a silent choice of one.
func readSecret(r io.Reader, from string) (string, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxSecretSize+3)) // + a line ending, + one byte to tell
	if err != nil {
		return "", fmt.Errorf("reading the password from %s: %w", from, err)
	}
	pw := trimNewline(string(b))
	if len(pw) > maxSecretSize {
		return "", fmt.Errorf("the password from %s is over %d bytes: that is not a password (is it the right file?)", from, maxSecretSize)
	}
	return pw, checkSecret(pw, from)
}

// checkSecret refuses a password no database takes: one with a NUL byte or
// spanning several lines (a file or a paste of more than the password).
func checkSecret(pw, from string) error {
	switch {
	case strings.IndexByte(pw, 0) >= 0:
		return fmt.Errorf("the password from %s holds a NUL byte, which PostgreSQL cannot take", from)
	case strings.ContainsAny(pw, "\r\n"):
		return fmt.Errorf("the password from %s spans several lines: give exactly one line", from)
	}
	return nil
}

// trimNewline drops one trailing line ending.
func trimNewline(s string) string {
	return strings.TrimSuffix(strings.TrimSuffix(s, "\n"), "\r")
}
