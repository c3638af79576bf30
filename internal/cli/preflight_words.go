package cli

import (
	"context"
	"maps"
	"slices"
	"strings"

	"github.com/flowpg/flowpg/connstr"
	"github.com/flowpg/flowpg/preflight"
)

// optionFlags are the flags that set the pre-flight options its results
// name (preflight.Result.Option).
var optionFlags = map[preflight.Option]string{
	preflight.OptionTimeout:   "--timeout",
	preflight.OptionRootCAs:   "--ca-file",
	preflight.OptionPinSHA256: "--pin-sha256",
	// Only connect and update fail an address or a CA, and both have these.
	preflight.OptionPrivateAddress: "--allow-private-address",
	preflight.OptionPrivateCA:      "--assume-adobe-trusts-ca",
}

// caFileRoots is how the CLI has always named the roots --ca-file gives,
// in messages ("the ca-file roots") and in CertificateDetails.TrustedBy.
const caFileRoots = "ca-file"

// flagWords rewrites the pre-flight's names of its options
// (Options.Timeout) as the flags that set them (--timeout). The roots a CA
// file replaced the system ones with are "the ca-file roots"; that longer
// match comes first, so the replacer prefers it.
var flagWords = func() *strings.Replacer {
	pairs := []string{"the " + preflight.OptionRootCAs.String() + " roots", "the " + caFileRoots + " roots"}
	for _, o := range slices.Sorted(maps.Keys(optionFlags)) {
		pairs = append(pairs, o.String(), optionFlags[o])
	}
	return strings.NewReplacer(pairs...)
}()

// runPreflight runs the pre-flight and words its results as the CLI's
// user knows them: every result the report holds, and every one that
// opts.Progress is told of, names flags rather than preflight's options.
func runPreflight(ctx context.Context, conn connstr.Conn, opts preflight.Options) *preflight.Report {
	if progress := opts.Progress; progress != nil {
		opts.Progress = func(e preflight.Event) {
			if e.Result != nil {
				inFlagWords(e.Result)
			}
			progress(e)
		}
	}
	rep := preflight.Run(ctx, conn, opts)
	for i := range rep.Checks {
		inFlagWords(&rep.Checks[i])
	}
	for i := range rep.Audit {
		rep.Audit[i].Error = flagWords.Replace(rep.Audit[i].Error)
	}
	if rq := rep.Requested; rq != nil {
		rq.Error = flagWords.Replace(rq.Error)
	}
	return rep
}

// inFlagWords rewrites one result's mentions of preflight's options.
func inFlagWords(res *preflight.Result) {
	if res.Option != "" {
		res.Message = flagWords.Replace(res.Message)
		res.Remediation = flagWords.Replace(res.Remediation)
	}
	// A copy, not the report's own details: a streamed result shares them.
	if d, ok := res.Certificate(); ok && d.TrustedBy == string(preflight.OptionRootCAs) {
		d.TrustedBy = caFileRoots
		res.Details = &d
	}
}
