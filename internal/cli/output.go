package cli

import (
	"errors"
)

// errorDoc is the JSON document of a failure that has no document of its
// own: one shape for every -o json path.
type errorDoc struct {
	Error errorInfo `json:"error"`
}

// errorInfo says what failed.
type errorInfo struct {
	// Code classifies the failure: not-found, api-error, invalid-input, usage.
	Code    string `json:"code"`
	Message string `json:"message"`
	// Meaning is Adobe's error code in words, when flowpg knows it.
	Meaning  string        `json:"meaning,omitempty"`
	APIError *apiErrorInfo `json:"apiError,omitempty"`
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
	if errors.As(err, &nf) {
		info = errorInfo{Code: "not-found", Message: err.Error()}
	} else {
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
