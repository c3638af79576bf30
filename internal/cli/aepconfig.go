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
	b, warns, err := readConfigFile(path)
	if err != nil {
		return aepConfig{}, nil, err
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		// encoding/json's messages name offsets and types, never values.
		return aepConfig{}, nil, fmt.Errorf("the aepp config file %s is not a JSON object: %w", path, err)
	}
	keys := make(configKeys, len(raw))
	for k, v := range raw {
		keys[strings.ToLower(k)] = v
	}
	c, err := keys.decode()
	if err != nil {
		return aepConfig{}, warns, err
	}
	return c, warns, nil
}

// readConfigFile reads an aepp config file, bounded, without its
// byte-order mark; a file others can read draws a warning.
func readConfigFile(path string) ([]byte, []string, error) {
	var warns []string
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the aepp config file: %w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil {
		if !st.Mode().IsRegular() {
			return nil, nil, fmt.Errorf("the aepp config file %s is not a regular file", path)
		}
		if st.Mode().Perm()&0o077 != 0 {
			warns = append(warns, fmt.Sprintf("the aepp config file %s holds a client secret and can be read by other users (mode %04o): chmod 600 it", path, st.Mode().Perm()))
		}
	}
	b, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return nil, nil, fmt.Errorf("reading the aepp config file: %w", err)
	}
	if len(b) > maxConfigSize {
		return nil, nil, fmt.Errorf("the aepp config file %s is over %d bytes: not an aepp config", path, maxConfigSize)
	}
	// A byte-order mark, as Windows editors write, is not JSON: drop it,
	// as flowpg does at the start of every input.
	return bytes.TrimPrefix(b, []byte("\uFEFF")), warns, nil
}

// configKeys are an aepp config file's top-level keys, lower-cased.
type configKeys map[string]json.RawMessage

// str returns the first of names that holds a non-empty string; a null or
// missing key is skipped, any other type is an error.
func (keys configKeys) str(names ...string) (string, error) {
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

// decode reads the credential, refusing the kinds flowpg does not support,
// and fills in the defaults (sandbox and environment prod).
func (keys configKeys) decode() (aepConfig, error) {
	if _, ok := keys["auth_code"]; ok {
		return aepConfig{}, errors.New("the aepp config file is for OAuth v1 (auth_code), which flowpg does not support: create an OAuth server-to-server credential in Adobe Developer Console")
	}
	var c aepConfig
	var errs []error
	get := func(dst *string, names ...string) {
		v, err := keys.str(names...)
		errs = append(errs, err)
		*dst = v
	}
	get(&c.OrgID, "org_id")
	get(&c.ClientID, "client_id", "api_key")
	get(&c.Secret, "secret", "client_secret")
	get(&c.Sandbox, "sandbox-name")
	get(&c.Environment, "environment")
	if err := errors.Join(errs...); err != nil {
		return aepConfig{}, err
	}
	if err := keys.secretsAndScopes(&c); err != nil {
		return aepConfig{}, err
	}
	_, jwt := keys["pathtokey"]
	_, jwtKey := keys["private_key"]
	if (jwt || jwtKey) && c.Scopes == "" {
		return aepConfig{}, errors.New("the aepp config file describes a JWT service account, which Adobe has retired: create an OAuth server-to-server credential and add its scopes to the file")
	}
	for _, r := range c.Environment {
		if !('a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '-') {
			return aepConfig{}, fmt.Errorf("the aepp config file's environment %q is not a name like prod or stage", c.Environment)
		}
	}
	if c.Sandbox == "" {
		c.Sandbox = "prod"
	}
	if c.Environment == "" {
		c.Environment = "prod"
	}
	return c, nil
}

// secretsAndScopes reads the keys that come as lists: client_secrets (the
// first is used when no secret is given) and scopes (a string or a list).
func (keys configKeys) secretsAndScopes(c *aepConfig) error {
	if c.Secret == "" {
		if v, ok := keys["client_secrets"]; ok {
			var list []string
			if err := json.Unmarshal(v, &list); err != nil {
				return errors.New(`the aepp config file's "client_secrets" is not a list of strings`)
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
			return errors.New(`the aepp config file's "scopes" is neither a string nor a list of strings`)
		}
	}
	return nil
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
