package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// maxConfigSize bounds an aepp config file: it is a few hundred bytes.
const maxConfigSize = 64 << 10

// aepConfig is what flowpg reads from the JSON config file that Adobe's
// Python client aepp writes (createConfigFile) and reads (importConfigFile):
// keys are matched case-insensitively; client_id may be spelled api_key
// (aepp's old name); the secret is secret, client_secret or the first of
// client_secrets; scopes is a string or a list (joined with commas). The
// sandbox and the environment default to prod, as in aepp.
type aepConfig struct {
	OrgID       string
	ClientID    string
	Secret      string
	Sandbox     string
	Environment string
	Scopes      string
}

// loadAEPConfig reads an aepp config file. A file that others can read draws
// a warning, as psql gives for a .pgpass file: it holds a client secret. It
// refuses the kinds of credential flowpg does not support: OAuth v1
// (auth_code) and the end-of-life JWT service accounts.
func loadAEPConfig(path string) (aepConfig, []string, error) {
	var warns []string
	f, err := os.Open(path)
	if err != nil {
		return aepConfig{}, nil, fmt.Errorf("reading the aepp config file: %w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil {
		if !st.Mode().IsRegular() {
			return aepConfig{}, nil, fmt.Errorf("the aepp config file %s is not a regular file", path)
		}
		if st.Mode().Perm()&0o077 != 0 {
			warns = append(warns, fmt.Sprintf("the aepp config file %s holds a client secret and can be read by other users (mode %04o): chmod 600 it", path, st.Mode().Perm()))
		}
	}
	b, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return aepConfig{}, nil, fmt.Errorf("reading the aepp config file: %w", err)
	}
	if len(b) > maxConfigSize {
		return aepConfig{}, nil, fmt.Errorf("the aepp config file %s is over %d bytes: not an aepp config", path, maxConfigSize)
	}
	// A byte-order mark, as Windows editors write, is not JSON: drop it,
	// as flowpg does at the start of every input.
	b = bytes.TrimPrefix(b, []byte("\uFEFF"))
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		// encoding/json's messages name offsets and types, never values.
		return aepConfig{}, nil, fmt.Errorf("the aepp config file %s is not a JSON object: %w", path, err)
	}
	keys := make(map[string]json.RawMessage, len(raw))
	for k, v := range raw {
		keys[strings.ToLower(k)] = v
	}
	str := func(names ...string) (string, error) {
		for _, n := range names {
			v, ok := keys[n]
			if !ok || string(v) == "null" {
				continue
			}
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return "", fmt.Errorf("the aepp config file's %q is not a string", n)
			}
			if s != "" {
				return s, nil
			}
		}
		return "", nil
	}
	if _, ok := keys["auth_code"]; ok {
		return aepConfig{}, warns, errors.New("the aepp config file is for OAuth v1 (auth_code), which flowpg does not support: create an OAuth server-to-server credential in Adobe Developer Console")
	}
	var c aepConfig
	var errs []error
	get := func(dst *string, names ...string) {
		v, err := str(names...)
		errs = append(errs, err)
		*dst = v
	}
	get(&c.OrgID, "org_id")
	get(&c.ClientID, "client_id", "api_key")
	get(&c.Secret, "secret", "client_secret")
	get(&c.Sandbox, "sandbox-name")
	get(&c.Environment, "environment")
	if err := errors.Join(errs...); err != nil {
		return aepConfig{}, warns, err
	}
	if c.Secret == "" {
		if v, ok := keys["client_secrets"]; ok {
			var list []string
			if err := json.Unmarshal(v, &list); err != nil {
				return aepConfig{}, warns, errors.New(`the aepp config file's "client_secrets" is not a list of strings`)
			}
			if len(list) > 0 {
				c.Secret = list[0]
			}
		}
	}
	if v, ok := keys["scopes"]; ok && string(v) != "null" {
		var s string
		var list []string
		switch {
		case json.Unmarshal(v, &s) == nil:
			c.Scopes = s
		case json.Unmarshal(v, &list) == nil:
			c.Scopes = strings.Join(list, ",")
		default:
			return aepConfig{}, warns, errors.New(`the aepp config file's "scopes" is neither a string nor a list of strings`)
		}
	}
	_, jwt := keys["pathtokey"]
	_, jwtKey := keys["private_key"]
	if (jwt || jwtKey) && c.Scopes == "" {
		return aepConfig{}, warns, errors.New("the aepp config file describes a JWT service account, which Adobe has retired: create an OAuth server-to-server credential and add its scopes to the file")
	}
	for _, r := range c.Environment {
		if !('a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '-') {
			return aepConfig{}, warns, fmt.Errorf("the aepp config file's environment %q is not a name like prod or stage", c.Environment)
		}
	}
	if c.Sandbox == "" {
		c.Sandbox = "prod"
	}
	if c.Environment == "" {
		c.Environment = "prod"
	}
	return c, warns, nil
}

// endpoints returns the Flow Service and IMS token URLs of the config's
// environment, as aepp maps it: prod is platform.adobe.io and
// ims-na1.adobelogin.com; any other is Adobe's own stage.
func (c aepConfig) endpoints() (flowURL, tokenURL string) {
	if c.Environment == "" || strings.EqualFold(c.Environment, "prod") {
		return "", ""
	}
	return "https://platform-" + c.Environment + ".adobe.io/data/foundation/flowservice",
		"https://ims-na1-stg1.adobelogin.com/ims/token/v3"
}
