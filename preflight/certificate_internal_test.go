package preflight

import (
	"crypto/x509"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestUnenforcedFindings_NameTheRoots: a chain the checked mode does not
// verify, and that the roots do not trust, is a warning that names those
// roots: the system's, or Options.RootCAs (with its code, for a caller that
// names the option otherwise).
func TestUnenforcedFindings_NameTheRoots(t *testing.T) {
	chk := &certCheck{chainErr: x509.UnknownAuthorityError{}, expiresIn: 365 * 24 * time.Hour}
	for _, tt := range []struct {
		roots  *x509.CertPool
		msg    string
		option Option
	}{
		{nil, "chain not trusted by the system roots: ", ""},
		{x509.NewCertPool(), "chain not trusted by the Options.RootCAs roots: ", OptionRootCAs},
	} {
		r := testRunner()
		r.libpq = "require"
		r.verifier = &verifier{roots: tt.roots}
		f := r.unenforcedFindings(chk, r.certificateDetails(chk, "connection"))
		require.Len(t, f, 1)
		require.Contains(t, f[0].msg, tt.msg)
		require.Equal(t, tt.option, f[0].option)
	}
}
