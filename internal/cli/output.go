package cli

import (
	"context"
	"errors"

	"github.com/flowpg/flowpg/connstr"
)

// errorDoc is the JSON document of a failure that has no document of its
// own: one shape for every -o json path.
type errorDoc struct {
	Error errorInfo `json:"error"`
}

// errorInfo says what failed.
type errorInfo struct {
	// Code classifies the failure: usage (the command line), syntax (the
	// connection string does not parse), invalid-input (it parses but is
	// not usable, or a file or setting is missing), not-found, api-error,
	// failed or interrupted.
	Code    string `json:"code"`
	Message string `json:"message"`
	// Field names the field or key at fault, and Offset the byte of the
	// input where a syntax error is, when they are known.
	Field  string `json:"field,omitempty"`
	Offset *int   `json:"offset,omitempty"`
	// Meaning is Adobe's error code in words, when flowpg knows it.
	Meaning  string        `json:"meaning,omitempty"`
	APIError *apiErrorInfo `json:"apiError,omitempty"`
}

// describeError is the errorDoc of a command that ended with err and the
// exit code without writing its own document.
func describeError(code int, err error) errorInfo {
	info := errorInfo{Code: "failed", Message: err.Error()}
	var (
		pe *connstr.ParseError
		ve *connstr.ValidationError
	)
	switch {
	case errors.As(err, &pe):
		info.Code, info.Message, info.Field, info.Offset = "syntax", pe.Msg, pe.Key, &pe.Offset
	case errors.As(err, &ve):
		info.Code = "invalid-input"
		if len(ve.Fields) == 1 {
			info.Field = ve.Fields[0].Field
		}
	case code == ExitInvalid:
		info.Code = "invalid-input"
	case errors.Is(err, context.Canceled):
		info.Code = "interrupted"
	}
	return info
}

// writeDoc writes v as the command's JSON document.
func writeDoc(streams *IO, v any) error {
	if err := writeJSON(streams.Stdout, v); err != nil {
		return failed(err)
	}
	return nil
}

// apiError ends a command whose Flow Service call failed (exit 1): the
// error on stderr, or as an errorDoc with -o json. A target no connection
// matches is reported the same way, as not-found.
func apiError(streams *IO, output, what string, err error) error {
	var info errorInfo
	var nf *errNotFound
	switch {
	case errors.As(err, &nf):
		info = errorInfo{Code: "not-found", Message: err.Error()}
	case errors.Is(err, context.Canceled):
		// The run was stopped (SIGINT, SIGTERM): no failure of Adobe's.
		info = errorInfo{Code: "interrupted", Message: "interrupted while " + what}
	default:
		info = describeAPIFailure(what, err)
	}
	if output == "json" {
		if werr := writeJSON(streams.Stdout, errorDoc{info}); werr != nil {
			return failed(werr)
		}
		return &ExitError{Code: ExitFailed}
	}
	msg := info.Message
	if info.Meaning != "" {
		msg += "\n  that is: " + info.Meaning
	}
	return failed(errors.New(msg))
}
