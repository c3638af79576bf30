package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCompletion_Scripts(t *testing.T) {
	bin, err := os.Executable()
	require.NoError(t, err)
	bin, err = filepath.Abs(bin)
	require.NoError(t, err)

	code, bash, errOut := runFlowpg(t, "", "completion", "bash")
	require.Equal(t, ExitOK, code, errOut)
	require.Equal(t, "complete -C "+shQuote(shQuote(bin))+" flowpg\n", bash)

	code, zsh, _ := runFlowpg(t, "", "completion", "zsh")
	require.Equal(t, ExitOK, code)
	require.Equal(t, "autoload -U +X bashcompinit && bashcompinit\ncomplete -C "+shQuote(shQuote(bin))+" flowpg\n", zsh)

	code, fish, _ := runFlowpg(t, "", "completion", "fish")
	require.Equal(t, ExitOK, code)
	require.Contains(t, fish, "set -lx COMP_LINE (commandline -cp)")
	require.Contains(t, fish, "\n    "+fishQuote(bin)+"\n")
	require.Contains(t, fish, `complete -f -c flowpg -a "(__complete_flowpg)"`)

	code, _, errOut = runFlowpg(t, "", "completion", "tcsh")
	require.Equal(t, ExitInvalid, code)
	require.Contains(t, errOut, "bash")
}

func TestCompletion_Quoting(t *testing.T) {
	const bin = `/opt/it's here\now/flowpg`
	assert.Equal(t, `complete -C ''\''/opt/it'\''\'\'''\''s here\now/flowpg'\''' flowpg`+"\n", completionScript("bash", "flowpg", bin))
	assert.Contains(t, completionScript("fish", "flowpg", bin), `'/opt/it\'s here\\now/flowpg'`)
}

// bash itself must accept the script and register the completer.
func TestCompletion_BashAcceptsScript(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash on this machine")
	}
	_, script, _ := runFlowpg(t, "", "completion", "bash")
	out, err := exec.Command(bash, "-c", script+"complete -p flowpg").CombinedOutput()
	require.NoError(t, err, string(out))
	require.Equal(t, strings.TrimSuffix(script, "\n"), strings.TrimSpace(string(out)))
}

// The shell runs flowpg with the typed line in COMP_LINE; flowpg answers
// with one candidate a line, and runs no command.
func TestCompletion_Protocol(t *testing.T) {
	tests := []struct {
		line string
		want []string
	}{
		{"flowpg ch", []string{"check"}},
		{"flowpg co", []string{"completion", "connect", "connections", "convert"}},
		{"flowpg connections ", []string{"delete", "list", "show", "test", "update"}},
		{"flowpg completion ", []string{"bash", "fish", "zsh"}},
		{"flowpg check -o ", []string{"json", "junit", "text"}},
		{"flowpg version --output j", []string{"json"}},
		{"flowpg check --conc", []string{"--concurrency"}},
		{"flowpg --vers", []string{"--version"}},
		{"flowpg check --ca-file testdata/check_j", []string{"testdata/check_json.golden", "testdata/check_junit.golden"}},
		{"flowpg check --file testdata/check_t", []string{"testdata/check_text.golden"}},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			t.Setenv("COMP_LINE", tt.line)
			t.Setenv("COMP_POINT", "")
			code, out, errOut := runFlowpg(t, "", "check", "this-would-fail-if-run")
			require.Equal(t, ExitOK, code, errOut)
			got := strings.Fields(out)
			assert.ElementsMatch(t, tt.want, got, out)
		})
	}
}

// bash parses the command of complete -C again each time it completes: a
// binary whose path holds a space, a quote or $(…) must still be the one
// called, and nothing in its path may run.
func TestCompletion_BashCallsThePathAsItIs(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash on this machine")
	}
	dir := filepath.Join(t.TempDir(), "it's a $(touch injected) dir")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	bin := filepath.Join(dir, "flowpg")
	require.NoError(t, os.WriteFile(bin, []byte("#!/bin/sh\necho called\n"), 0o755))
	// compgen -C runs the stored command as completion does.
	script := completionScript("bash", "flowpg", bin) + `eval "set -- $(complete -p flowpg)"; compgen -C "$3" -- ch`
	cmd := exec.Command(bash, "-c", script)
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	assert.Contains(t, string(out), "called")
	_, err = os.Stat(filepath.Join(cmd.Dir, "injected"))
	assert.True(t, os.IsNotExist(err), "the path's $(…) ran")
}
