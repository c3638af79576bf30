package flowclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// ConnectionSpec describes a source: its id, version and the auth specs a
// connection to it may use. Flow Service returns much more (sourceSpec,
// exploreSpec, attributes); Raw keeps the whole item for whoever needs it.
type ConnectionSpec struct {
	// ID is the spec's id, such as PostgreSQLSpecID.
	ID string `json:"id"`
	// Name is the source's name, such as "postgresql".
	Name string `json:"name"`
	// ProviderID is the id of the source's provider.
	ProviderID string `json:"providerId"`
	// Version is the spec's version, to send in SpecRef.Version.
	Version string `json:"version"`
	// AuthSpec lists the ways to authenticate; see FindAuthSpec.
	AuthSpec []AuthSpec `json:"authSpec"`
	// Raw is the item exactly as received.
	Raw json.RawMessage `json:"-"`
}

// AuthSpec is one way to authenticate: its name (the specName a connection
// sends), its type, and the JSON schema of its params.
type AuthSpec struct {
	// Name is the specName a connection sends in Auth.SpecName.
	Name string `json:"name"`
	// Type is Flow Service's name for the kind of auth, such as
	// "PostgreSQLBasicAuth".
	Type string `json:"type"`
	// Spec is the JSON schema of the params.
	Spec ParamsSchema `json:"spec"`
}

// ParamsSchema is the part of an auth spec's JSON schema that callers use to
// validate params before sending them.
type ParamsSchema struct {
	// Type is "object".
	Type        string `json:"type"`
	Description string `json:"description"`
	// Properties are the params' schemas, by param name.
	Properties map[string]PropertySchema `json:"properties"`
	// Required lists the params a connection must give.
	Required []string `json:"required"`
}

// PropertySchema is the schema of one auth param.
type PropertySchema struct {
	// Type is the param's JSON schema type, such as "string" or "boolean".
	Type        string `json:"type"`
	Description string `json:"description"`
	// Format "password" marks a secret, which Flow Service masks on read.
	Format string `json:"format"`
	// Pattern is the regular expression a value must match, "" when none.
	Pattern string `json:"pattern"`
	// Enum lists the allowed values, each as text (a boolean false as "false").
	Enum []string `json:"enum"`
	// Default is the default value as text, "" when none.
	Default string `json:"default"`
}

// UnmarshalJSON decodes leniently: enum members and the default may be any
// JSON scalar, and are kept as text.
func (p *PropertySchema) UnmarshalJSON(data []byte) error {
	type plain PropertySchema
	var aux struct {
		plain
		Enum    []json.RawMessage `json:"enum"`
		Default json.RawMessage   `json:"default"`
	}
	if err := json.Unmarshal(data, &aux); err != nil {
		return err
	}
	*p = PropertySchema(aux.plain)
	p.Enum = nil
	for _, e := range aux.Enum {
		p.Enum = append(p.Enum, scalarText(e))
	}
	p.Default = scalarText(aux.Default)
	return nil
}

// FindAuthSpec returns the auth spec with the given name, matched exactly as
// Flow Service matches specName.
func (s ConnectionSpec) FindAuthSpec(name string) (AuthSpec, bool) {
	for _, a := range s.AuthSpec {
		if a.Name == name {
			return a, true
		}
	}
	return AuthSpec{}, false
}

// ParamEnum returns the allowed values of one param of one auth spec, such as
// ParamEnum(connstr.BasicAuthSpecName, "sslMode"), or nil when the spec
// lists none.
func (s ConnectionSpec) ParamEnum(authSpec, param string) []string {
	a, ok := s.FindAuthSpec(authSpec)
	if !ok {
		return nil
	}
	return a.Spec.Properties[param].Enum
}

// GetConnectionSpec returns a connection spec: GET /connectionSpecs/{id},
// unwrapping the {"items": […]} envelope.
func (c *Client) GetConnectionSpec(ctx context.Context, id string) (ConnectionSpec, error) {
	if strings.TrimSpace(id) == "" {
		return ConnectionSpec{}, errors.New("flowclient: empty connection spec id")
	}
	var reply itemsReply[json.RawMessage]
	if err := c.call(ctx, http.MethodGet, "/connectionSpecs/"+url.PathEscape(id), nil, nil, &reply); err != nil {
		return ConnectionSpec{}, err
	}
	if len(reply.Items) == 0 {
		return ConnectionSpec{}, fmt.Errorf("flowclient: get connection spec %s: reply has no items", id)
	}
	var spec ConnectionSpec
	if err := json.Unmarshal(reply.Items[0], &spec); err != nil {
		return ConnectionSpec{}, fmt.Errorf("flowclient: get connection spec %s: decode: %w", id, err)
	}
	spec.Raw = reply.Items[0]
	return spec, nil
}
