package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/alecthomas/kong"
	"github.com/posener/complete"
	"github.com/willabides/kongplete"
)

// CompletionCmd prints a script that makes a shell complete flowpg's
// commands, flags and enum values.
//
// The script registers flowpg itself as the completer: the shell runs it
// with the line being typed in $COMP_LINE, and Main answers from kong's
// model of the command tree (through kongplete) instead of running a
// command. Completions therefore always match the installed binary.
type CompletionCmd struct {
	Shell string `arg:"" enum:"bash,zsh,fish" help:"The shell: bash, zsh or fish."`
}

// Help is shown by flowpg completion --help.
func (CompletionCmd) Help() string {
	return `Prints a script to source in your shell. It completes commands, flags, the
values of flags such as -o, and file names for flags that take a path. The
script names this binary by its absolute path.

Install:
  bash  echo 'source <(flowpg completion bash)' >> ~/.bashrc
  zsh   echo 'source <(flowpg completion zsh)' >> ~/.zshrc
  fish  flowpg completion fish > ~/.config/fish/completions/flowpg.fish

Examples:
  source <(flowpg completion bash)`
}

// Run prints the script for the chosen shell.
func (c *CompletionCmd) Run(streams *IO) error {
	bin, err := os.Executable()
	if err == nil {
		bin, err = filepath.Abs(bin)
	}
	if err != nil {
		return failed(fmt.Errorf("finding this program's path: %w", err))
	}
	_, err = fmt.Fprint(streams.Stdout, completionScript(c.Shell, "flowpg", bin))
	return err
}

// completionScript returns the script that makes shell call bin to complete
// the command cmd. The scripts are posener/complete's, which kongplete's
// answers follow.
func completionScript(shell, cmd, bin string) string {
	// complete -C stores a command line, which the shell parses again each
	// time it completes: the path is quoted for that parse, and the whole
	// for this one. Quoted once, a path with a space would break, and one
	// holding $(…) would run it.
	switch shell {
	case "bash":
		return fmt.Sprintf("complete -C %s %s\n", shQuote(shQuote(bin)), cmd)
	case "zsh":
		// zsh runs bash completers through bashcompinit.
		return fmt.Sprintf("autoload -U +X bashcompinit && bashcompinit\ncomplete -C %s %s\n", shQuote(shQuote(bin)), cmd)
	case "fish":
		return fmt.Sprintf(`function __complete_%[1]s
    set -lx COMP_LINE (commandline -cp)
    test -z (commandline -ct)
    and set COMP_LINE "$COMP_LINE "
    %[2]s
end
complete -f -c %[1]s -a "(__complete_%[1]s)"
`, cmd, fishQuote(bin))
	}
	return ""
}

// shQuote quotes s for bash and zsh.
func shQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// fishQuote quotes s for fish, where a single-quoted string takes \' and \\.
func fishQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// completing reports whether the shell started flowpg to complete a line.
func completing(streams *IO) bool { return streams.getenv("COMP_LINE") != "" }

// completeLine prints the completions of the line in $COMP_LINE, one a line.
func completeLine(parser *kong.Kong, streams *IO) int {
	cmd, err := kongplete.Command(parser)
	if err != nil {
		fmt.Fprintf(streams.Stderr, "flowpg: completion: %v\n", err)
		return ExitFailed
	}
	cmd = withPathPredictors(cmd, parser.Model.Node)
	c := complete.New(parser.Model.Name, cmd)
	c.Out = streams.Stdout
	c.Complete()
	return ExitOK
}

// withPathPredictors completes file names for every flag of type "path"
// (kongplete completes only enums, and flags tagged with a predictor).
func withPathPredictors(cmd complete.Command, node *kong.Node) complete.Command {
	for _, f := range node.Flags {
		if f.Tag != nil && f.Tag.Type == "path" {
			cmd.GlobalFlags["--"+f.Name] = complete.PredictFiles("*")
		}
	}
	for _, child := range node.Children {
		if sub, ok := cmd.Sub[child.Name]; ok {
			cmd.Sub[child.Name] = withPathPredictors(sub, child)
		}
	}
	return cmd
}
