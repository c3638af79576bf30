package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flowpg/flowpg/flowclient/flowtest"
)

// TestPasswordInputs: a password comes in bounded, as exactly one line, and
// a password file that others could read or redirect draws a warning.
func TestPasswordInputs(t *testing.T) {
	build := []string{"build", "--server", "db", "--database", "d", "--user", "u", "--to", "basic"}
	dir := t.TempDir()
	file := func(name, body string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(body), mode))
		require.NoError(t, os.Chmod(p, mode))
		return p
	}

	t.Run("stdin", func(t *testing.T) {
		for _, tt := range []struct {
			name, stdin string
			code        int
			want        string
		}{
			{"one line", "s3cret\n", ExitOK, `"password": "s3cret"`},
			{"CRLF", "s3cret\r\n", ExitOK, `"password": "s3cret"`},
			{"no newline", "s3cret", ExitOK, `"password": "s3cret"`},
			{"exactly 64 KiB", strings.Repeat("x", 64<<10) + "\n", ExitOK, ""},
			{"over 64 KiB is an error, not a cut", strings.Repeat("x", 100_000), ExitInvalid, "over 65536 bytes"},
			{"two lines", "first\nsecond\n", ExitInvalid, "spans several lines"},
			{"NUL", "pw\x00x", ExitInvalid, "NUL byte"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				code, out, errOut := runFlowpg(t, tt.stdin, append(build, "--password-stdin")...)
				require.Equal(t, tt.code, code, "%s\n%s", out, errOut)
				assert.Contains(t, out+errOut, tt.want)
				if code != ExitOK {
					assert.NotContains(t, errOut, "second", "the password is not echoed")
				}
			})
		}
	})

	t.Run("file", func(t *testing.T) {
		private := file("private", "s3cret\n", 0o600)
		code, out, errOut := runFlowpg(t, "", append(build, "--password-file", private)...)
		require.Equal(t, ExitOK, code, errOut)
		assert.Contains(t, out, `"password": "s3cret"`)
		assert.NotContains(t, errOut, "password-file")

		shared := file("shared", "s3cret\n", 0o644)
		code, _, errOut = runFlowpg(t, "", append(build, "--password-file", shared)...)
		require.Equal(t, ExitOK, code)
		assert.Contains(t, errOut, "[password-file-permissions]")
		assert.Contains(t, errOut, "chmod 600")

		link := filepath.Join(dir, "link")
		require.NoError(t, os.Symlink(private, link))
		code, _, errOut = runFlowpg(t, "", append(build, "--password-file", link)...)
		require.Equal(t, ExitOK, code)
		assert.Contains(t, errOut, "[password-file-symlink]")

		huge := file("huge", strings.Repeat("x", 1<<20), 0o600)
		code, _, errOut = runFlowpg(t, "", append(build, "--password-file", huge)...)
		assert.Equal(t, ExitInvalid, code)
		assert.Contains(t, errOut, "over 65536 bytes")

		// /dev/zero never ends: the bound stops the read.
		code, _, errOut = runFlowpg(t, "", append(build, "--password-file", "/dev/zero")...)
		assert.Equal(t, ExitInvalid, code)
		assert.Contains(t, errOut, "over 65536 bytes")

		twoLines := file("two", "a\nb\n", 0o600)
		code, _, errOut = runFlowpg(t, "", append(build, "--password-file", twoLines)...)
		assert.Equal(t, ExitInvalid, code)
		assert.Contains(t, errOut, "spans several lines")

		code, _, errOut = runFlowpg(t, "", append(build, "--password-file", dir)...)
		assert.Equal(t, ExitInvalid, code)
		assert.Contains(t, errOut, "is a directory")
	})
}

// TestPasswordFlags_BesideAString: connect and connections update take a
// connection string and the password flags alike. A flag fills in the
// password a string lacks; a flag beside a string that holds one, or
// --password-stdin beside a string read from standard input, is an error:
// neither is ever silently ignored.
func TestPasswordFlags_BesideAString(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	require.NoError(t, os.WriteFile(pwFile, []byte("pw-from-file-sentinel\n"), 0o600))
	const noPassword = "Server=127.0.0.1;Port=1;Database=d;UID=u"
	const withPassword = noPassword + ";PWD=pw-in-string-sentinel"

	fs := flowtest.NewServer()
	defer fs.Close()
	connectEnv(t, fs)
	seed(t, fs, "sales-pg", "127.0.0.1", "stored-pw")

	for _, cmd := range [][]string{
		{"connect", "-", "--name", "new-pg", "--dry-run"},
		{"connections", "update", "sales-pg", "-", "--dry-run"},
	} {
		for _, tt := range []struct {
			name  string
			in    string
			flags []string
			env   string
			code  int
			want  string
		}{
			{"a file fills in the password", noPassword, []string{"--password-file", pwFile}, "", ExitFailed, ""},
			{"$FLOWPG_PASSWORD fills it in", noPassword, nil, "pw-from-env-sentinel", ExitFailed, ""},
			{"no password at all", noPassword, nil, "", ExitInvalid, "password"},
			{"a file beside a password", withPassword, []string{"--password-file", pwFile}, "", ExitInvalid, "give it one way only"},
			{"--password beside a password", withPassword, []string{"--password", "other"}, "", ExitInvalid, "give it one way only"},
			{"$FLOWPG_PASSWORD yields to the string", withPassword, nil, "pw-from-env-sentinel", ExitFailed, ""},
			{"both from standard input", noPassword, []string{"--password-stdin"}, "", ExitInvalid, "cannot both come from standard input"},
		} {
			t.Run(cmd[0]+" "+cmd[1]+": "+tt.name, func(t *testing.T) {
				t.Setenv("FLOWPG_PASSWORD", tt.env)
				code, out, errOut := runFlowpg(t, tt.in, append(append(cmd, tt.flags...), "--timeout", "2s")...)
				require.Equal(t, tt.code, code, "%s\n%s", out, errOut)
				if tt.want != "" {
					assert.Contains(t, out+errOut, tt.want)
				}
				if tt.code == ExitFailed && tt.want == "" {
					// The gate ran with a password: it failed at the
					// closed port, not at the input.
					assert.Regexp(t, `✓ input`, out)
					assert.Regexp(t, `✗ tcp`, out)
				}
				assert.NotContains(t, out+errOut, "sentinel")
			})
		}
	}
}
