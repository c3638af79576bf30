package cli

import (
	"strings"

	"github.com/alecthomas/kong"
)

// flagEnv gives flags their values from the environment, read through IO
// rather than by the parser itself, so that an invocation's environment is
// the one its IO carries (tests run in parallel, each with its own). The
// flags keep their env tags, for help and for this: take moves the names
// out of the parser's model before it parses, and Resolve looks them up.
type flagEnv struct {
	io    *IO
	names map[*kong.Value][]string
}

// take moves the env tags of model's flags and arguments into e.
func (e *flagEnv) take(model *kong.Application) {
	e.names = map[*kong.Value][]string{}
	_ = kong.Visit(model, func(n kong.Visitable, next kong.Next) error {
		if v, ok := n.(*kong.Value); ok && len(v.Tag.Envs) > 0 {
			e.names[v], v.Tag.Envs = v.Tag.Envs, nil
		}
		return next(nil)
	})
}

// Validate is kong.Resolver's: there is nothing to check.
func (e *flagEnv) Validate(*kong.Application) error { return nil }

// Resolve returns the first variable of flag's that is set, as the parser
// would have.
func (e *flagEnv) Resolve(_ *kong.Context, _ *kong.Path, flag *kong.Flag) (any, error) {
	for _, name := range e.names[flag.Value] {
		if v, ok := e.io.lookupEnv(name); ok {
			return v, nil
		}
	}
	return nil, nil
}

// help writes a value's help as kong's default formatter does, with the
// variables that set it.
func (e *flagEnv) help(v *kong.Value) string {
	names := e.names[v]
	if len(names) == 0 {
		return v.Help
	}
	suffix := "($" + strings.Join(names, ", $") + ")"
	switch {
	case strings.HasSuffix(v.Help, "."):
		return v.Help[:len(v.Help)-1] + " " + suffix + "."
	case v.Help == "":
		return suffix
	}
	return v.Help + " " + suffix
}
