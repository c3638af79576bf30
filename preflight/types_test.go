package preflight_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flowpg/flowpg/connstr"
	"github.com/flowpg/flowpg/preflight"
)

// TestDetails_SSLModeJSON: the details' sslmodes are connstr.SSLMode, and
// JSON carries them under their libpq names, as when they were strings; an
// unset requested mode is left out.
func TestDetails_SSLModeJSON(t *testing.T) {
	b, err := json.Marshal(&preflight.InputDetails{Server: "h", Port: 5432, Database: "d", User: "u", SSLMode: connstr.SSLVerifyFull})
	require.NoError(t, err)
	assert.JSONEq(t, `{"server":"h","port":5432,"database":"d","username":"u","sslMode":"verify-full"}`, string(b))

	b, err = json.Marshal(&preflight.InputDetails{SSLMode: connstr.SSLVerifyCA, RequestedSSLMode: connstr.SSLRequire, SSLModeReason: "as registered"})
	require.NoError(t, err)
	assert.JSONEq(t, `{"server":"","port":0,"database":"","username":"","sslMode":"verify-ca","requestedSslMode":"require","sslModeReason":"as registered"}`, string(b))

	b, err = json.Marshal(&preflight.SSLModeDetails{Mode: connstr.SSLPrefer, TLSUsed: true})
	require.NoError(t, err)
	assert.JSONEq(t, `{"mode":"prefer","tlsUsed":true}`, string(b))
}

// TestStages_CallerOwnsTheSlice: Stages returns a copy, so a caller that
// changes it changes neither the order runs report nor another's copy.
func TestStages_CallerOwnsTheSlice(t *testing.T) {
	s := preflight.Stages()
	require.Len(t, s, 10)
	require.Equal(t, preflight.StageInput, s[0])
	s[0] = "changed"
	assert.Equal(t, preflight.StageInput, preflight.Stages()[0])
}

// TestAccessors: each stage's accessor returns that stage's details, typed,
// and false for a stage that is missing, has no details, or has another
// stage's.
func TestAccessors(t *testing.T) {
	rep := &preflight.Report{Checks: []preflight.Result{
		{ID: preflight.StageTLS, Status: preflight.Pass, Details: &preflight.TLSDetails{Used: true}},
		{ID: preflight.StageCertificate, Status: preflight.Skip},
		{ID: preflight.StageAuth, Status: preflight.Pass, Details: &preflight.AuthDetails{}},
	}}
	tlsD, ok := rep.TLS()
	require.True(t, ok)
	assert.True(t, tlsD.Used)
	tlsD.Used = false
	again, _ := rep.TLS()
	assert.True(t, again.Used, "the accessor returns a copy")

	_, ok = rep.Certificate()
	assert.False(t, ok, "a skipped stage has no details")
	_, ok = rep.Privileges()
	assert.False(t, ok, "a missing stage has no details")
	_, ok = rep.Auth()
	assert.True(t, ok)
	_, ok = rep.Check(preflight.StageTLS).Auth()
	assert.False(t, ok, "another stage's details are not these")
	var none *preflight.Result
	_, ok = none.TLS()
	assert.False(t, ok)
}
