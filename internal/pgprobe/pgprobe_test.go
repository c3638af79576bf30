package pgprobe_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flowpg/flowpg/connstr"
	"github.com/flowpg/flowpg/flowclient/flowtest"
	"github.com/flowpg/flowpg/internal/netguard"
	"github.com/flowpg/flowpg/internal/pgprobe"
)

// With a Dialer, the prober looks nothing up: the dialer receives the
// stored host as it is, so a guard can refuse a name before any query
// leaves the machine, and a Refuser sees every address.
func TestProber_DialerReceivesTheHostUnresolved(t *testing.T) {
	for _, tt := range []struct {
		name, spec string
		params     map[string]string
		want       string
	}{
		{"basic auth, name", connstr.BasicAuthSpecName,
			map[string]string{"server": "db.example.com", "port": "5432", "database": "d", "username": "u", "password": "pw-sentinel-86", "sslMode": "Disable"},
			"db.example.com:5432"},
		{"connection string, private address", connstr.ConnectionStringSpecName,
			map[string]string{"connectionString": "Server=10.1.2.3;Port=6432;Database=d;UID=u;PWD=pw-sentinel-86;EncryptionMethod=0"},
			"10.1.2.3:6432"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			refuser := &netguard.Refuser{}
			_, err := pgprobe.Prober(pgprobe.Options{Dialer: refuser})(ctx, flowtest.ProbeRequest{SpecName: tt.spec, Params: tt.params})
			require.Error(t, err)
			assert.NotContains(t, err.Error(), "pw-sentinel-86")
			require.NotEmpty(t, refuser.Dialed())
			for _, a := range refuser.Dialed() {
				assert.Equal(t, tt.want, a)
			}
		})
	}
}
