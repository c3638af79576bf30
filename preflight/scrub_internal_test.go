package preflight

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/flowpg/flowpg/connstr"
)

// TestExternal: text from outside flowpg is masked where the password
// appears as the password, and neither garbled nor made to betray it.
func TestExternal(t *testing.T) {
	tests := []struct {
		name, password, in, want string
	}{
		{"the test runner's sentinel", testRunner().conn.Password, "x Secr3t-sentinel y", "x ******** y"},
		{"long password masked everywhere", "s3cret-pass", "auth failed for s3cret-pass; xs3cret-passx", "auth failed for ********; x********x"},
		{"short password inside words kept", "p", "nothing listens on that port (loopback)", "nothing listens on that port (loopback)"},
		{"short password alone masked", "p", "password p was sent", "password ******** was sent"},
		{"short password at the ends", "pw1", "pw1 and 'pw1'", "******** and '********'"},
		{"short password in a number kept", "12", "port 5412 and 12", "port 5412 and ********"},
		{"one digit in an address and a version kept", "1", "127.0.0.1 answered TLS 1.3", "127.0.0.1 answered TLS 1.3"},
		{"one letter in prose kept", "a", "give AEP a-public host", "give AEP a-public host"},
		{"short password made of symbols", "#!", "got #! twice: a#!b", "got ******** twice: a********b"},
		{"no password", "", "anything", "anything"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &runner{conn: connstr.Conn{Password: tt.password}}
			assert.Equal(t, tt.want, r.external(tt.in))
		})
	}
	t.Run("a password equal to the user is not masked: that would betray it", func(t *testing.T) {
		r := &runner{conn: connstr.Conn{User: "app", Password: "app"}}
		msg := `password authentication failed for user "app"`
		assert.Equal(t, msg, r.external(msg))
	})
}
