package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/flowpg/flowpg/flowclient"
	"github.com/flowpg/flowpg/internal/printable"
)

// AdobeFlags locate Flow Service and Adobe IMS, and name the organization
// and sandbox. They come from flags, from the AEP_* variables, and from the
// JSON config file of Adobe's Python client aepp (--config, $AEP_CONFIG), in
// that order of precedence. The secrets (AEP_ACCESS_TOKEN, the client
// secret) come from the environment or the config file only, never from
// flags, so they cannot show in ps.
type AdobeFlags struct {
	Config   string `name:"config" env:"AEP_CONFIG" placeholder:"FILE" help:"Adobe settings from aepp's JSON config file (org_id, client_id, secret, sandbox-name, scopes); flags and AEP_* variables win over it."`
	FlowURL  string `name:"flow-url" env:"AEP_FLOW_URL" placeholder:"URL" help:"Flow Service base URL (default ${flowURL}; the emulator's for tests)."`
	TokenURL string `name:"ims-token-url" env:"AEP_IMS_TOKEN_URL" placeholder:"URL" help:"Adobe IMS token URL (default ${imsURL})."`
	ClientID string `name:"client-id" env:"AEP_CLIENT_ID" help:"OAuth server-to-server client id; the secret comes from $$AEP_CLIENT_SECRET or the config file."`
	Scopes   string `name:"scopes" env:"AEP_SCOPES" help:"IMS scopes, comma-separated (default: AEP's)."`
	APIKey   string `name:"api-key" env:"AEP_API_KEY" help:"x-api-key (defaults to the client id)."`
	OrgID    string `name:"org-id" env:"AEP_ORG_ID" help:"IMS organization id (…@AdobeOrg)."`
	Sandbox  string `name:"sandbox" env:"AEP_SANDBOX_NAME" help:"Sandbox name (x-sandbox-name)."`

	APITimeout time.Duration `name:"api-timeout" default:"60s" help:"Time limit for one call to Adobe (a create whose reply does not come in time is then looked up by name)."`
}

// errNoCredentials is an incomplete set of Adobe settings: what a dry run
// can do without (it names the missing ones in the request it prints), as
// opposed to a setting that is wrong, such as a URL flowclient refuses.
var errNoCredentials = errors.New("no Adobe credentials")

// adobeSettings are AdobeFlags resolved: flags and variables over the config
// file, defaults filled in.
type adobeSettings struct {
	FlowURL, TokenURL       string
	ClientID, Secret, Token string
	Scopes, APIKey          string
	OrgID, Sandbox          string
	Warnings                []string
}

// settings resolves the flags, the environment and the config file.
func (a AdobeFlags) settings(streams *IO) (adobeSettings, error) {
	s := adobeSettings{
		FlowURL: a.FlowURL, TokenURL: a.TokenURL, ClientID: a.ClientID, Scopes: a.Scopes,
		APIKey: a.APIKey, OrgID: a.OrgID, Sandbox: a.Sandbox,
		Token: streams.getenv("AEP_ACCESS_TOKEN"), Secret: streams.getenv("AEP_CLIENT_SECRET"),
	}
	if a.Config != "" {
		cfg, warns, err := loadAEPConfig(a.Config)
		s.Warnings = warns
		if err != nil {
			return s, err
		}
		flowURL, tokenURL := cfg.endpoints()
		for _, f := range []struct {
			dst *string
			v   string
		}{
			{&s.FlowURL, flowURL}, {&s.TokenURL, tokenURL}, {&s.ClientID, cfg.ClientID}, {&s.Secret, cfg.Secret},
			{&s.Scopes, cfg.Scopes}, {&s.OrgID, cfg.OrgID}, {&s.Sandbox, cfg.Sandbox},
		} {
			if *f.dst == "" {
				*f.dst = f.v
			}
		}
	}
	if s.FlowURL == "" {
		s.FlowURL = flowclient.DefaultBaseURL
	}
	if s.TokenURL == "" {
		s.TokenURL = flowclient.DefaultIMSTokenURL
	}
	if s.APIKey == "" {
		s.APIKey = s.ClientID // the credential's client id is its API key
	}
	return s, nil
}

// printWarnings writes the config file's warnings to stderr.
func (s adobeSettings) printWarnings(streams *IO) {
	for _, w := range s.Warnings {
		fmt.Fprintf(streams.Stderr, "flowpg: warning: %s\n", printable.Line(w))
	}
}

// client builds a Flow Service client from the flags, the environment and
// the config file. Building it sends nothing: tokens are fetched on first
// use. Missing settings are named one by one.
func (a AdobeFlags) client(ctx context.Context, streams *IO) (*flowclient.Client, error) {
	s, err := a.settings(streams)
	s.printWarnings(streams)
	if err != nil {
		return nil, err
	}
	// A URL flowclient refuses (plain http to another host, credentials in
	// it) is wrong whatever the credentials: said first, even in a dry run.
	if _, err := placeholderClient(s); err != nil {
		return nil, err
	}
	if a.APITimeout <= 0 {
		return nil, errors.New("--api-timeout must be positive")
	}
	hc := &http.Client{Timeout: a.APITimeout}
	if streams.dialer != nil {
		hc.Transport = &http.Transport{DialContext: streams.dialer.DialContext}
	}
	var ts oauth2.TokenSource
	switch {
	case s.Token != "":
		ts = oauth2.StaticTokenSource(&oauth2.Token{AccessToken: s.Token, TokenType: "Bearer"})
	case s.ClientID != "" && s.Secret != "":
		cfg := flowclient.IMSConfig{ClientID: s.ClientID, ClientSecret: s.Secret, TokenURL: s.TokenURL, HTTPClient: hc}
		if s.Scopes != "" {
			cfg.Scopes = strings.Split(s.Scopes, ",")
		}
		if ts, err = flowclient.IMSTokenSource(ctx, cfg); err != nil {
			return nil, err
		}
	case s.ClientID != "":
		return nil, fmt.Errorf("%w: AEP_CLIENT_ID is set but AEP_CLIENT_SECRET is not (set it, put it in the --config file, or set AEP_ACCESS_TOKEN)", errNoCredentials)
	case s.Secret != "":
		return nil, fmt.Errorf("%w: AEP_CLIENT_SECRET is set but AEP_CLIENT_ID is not", errNoCredentials)
	default:
		return nil, fmt.Errorf("%w: set AEP_ACCESS_TOKEN, or AEP_CLIENT_ID and AEP_CLIENT_SECRET, or give aepp's config file with --config", errNoCredentials)
	}
	var missing []string
	for _, m := range []struct{ name, v string }{
		{"AEP_API_KEY (or AEP_CLIENT_ID)", s.APIKey}, {"AEP_ORG_ID", s.OrgID}, {"AEP_SANDBOX_NAME", s.Sandbox},
	} {
		if m.v == "" {
			missing = append(missing, m.name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: missing %s", errNoCredentials, strings.Join(missing, ", "))
	}
	return flowclient.New(
		flowclient.WithBaseURL(s.FlowURL),
		flowclient.WithHTTPClient(hc),
		flowclient.WithTokenSource(ts),
		flowclient.WithAPIKey(s.APIKey),
		flowclient.WithOrgID(s.OrgID),
		flowclient.WithSandbox(s.Sandbox),
	)
}

// placeholderClient stands in for a client when a dry run has no
// credentials: the headers it previews name the variables to set.
func (a AdobeFlags) placeholderClient(streams *IO) (*flowclient.Client, error) {
	s, _ := a.settings(streams) // a broken config file was reported by client already
	return placeholderClient(s)
}

// placeholderClient is a client of s whose headers name the settings that
// are missing; it sends nothing (its token is a placeholder).
func placeholderClient(s adobeSettings) (*flowclient.Client, error) {
	or := func(v, name string) string {
		if v == "" {
			return "{" + name + "}"
		}
		return v
	}
	return flowclient.New(
		flowclient.WithBaseURL(s.FlowURL),
		flowclient.WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "unused"})),
		flowclient.WithAPIKey(or(s.APIKey, "AEP_API_KEY")),
		flowclient.WithOrgID(or(s.OrgID, "AEP_ORG_ID")),
		flowclient.WithSandbox(or(s.Sandbox, "AEP_SANDBOX_NAME")),
	)
}
