package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
