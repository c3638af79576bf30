package preflight

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/flowpg/flowpg/connstr"
)

func TestScrub(t *testing.T) {
	tests := []struct {
		name, password, in, want string
	}{
		{"the test runner's sentinel", testRunner().conn.Password, "x Secr3t-sentinel y", "x ******** y"},
		{"long password masked everywhere", "s3cret-pass", "auth failed for s3cret-pass; xs3cret-passx", "auth failed for ********; x********x"},
		{"short password inside words kept", "p", "nothing listens on that port (loopback)", "nothing listens on that port (loopback)"},
		{"short password alone masked", "p", "password p was sent", "password ******** was sent"},
		{"short password at the ends", "pw1", "pw1 and 'pw1'", "******** and '********'"},
		{"short password in a number kept", "12", "port 5412 and 12", "port 5412 and ********"},
		{"short password made of symbols", "#!", "got #! twice: a#!b", "got ******** twice: a********b"},
		{"no password", "", "anything", "anything"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &runner{conn: connstr.Conn{Password: tt.password}}
			assert.Equal(t, tt.want, r.scrub(tt.in))
		})
	}
}
