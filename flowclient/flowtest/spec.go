package flowtest

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/flowpg/flowpg/connstr"
)

// PostgreSQLSpecID is the connection spec id of AEP's PostgreSQL source, the
// one spec the emulator knows.
const PostgreSQLSpecID = "74a1c565-4e59-48d7-9d67-7c03b8a13137"

// TutorialSSLModes are the sslMode values that Adobe's API tutorial for the
// PostgreSQL source lists, and the emulator's default enum. The tutorial
// has no Require; the connector overview lists Require and spells the
// verifying modes Verify-Ca and Verify-Full (see WithSSLModes), and AEP on
// AWS types sslMode as a boolean (see WithSSLModeBoolean).
var TutorialSSLModes = []string{"Disable", "Allow", "Prefer", "Verify Ca", "Verify Full"}

// Masked is what the emulator returns in place of a secret param. Flow
// Service masks secrets on read; the exact mask text is the emulator's.
const Masked = "********"

type propDef struct {
	name, typ, desc, format string
	enum                    []string
}

type authDef struct {
	name, typ, desc string
	props           []propDef
	required        []string
}

type specDef struct {
	id, name, providerID, version string
	auth                          []authDef
}

// postgresSpec is the PostgreSQL source's spec, with sslMode of type
// sslType ("string" or "boolean") and, if any, the values sslModes. Its
// auth spec names are connstr's, the one definition flowclient shares.
func postgresSpec(sslType string, sslModes []string) specDef {
	return specDef{
		id:         PostgreSQLSpecID,
		name:       "postgresql",
		providerID: "0ed90a81-07f4-4586-8190-b40eccef1c5a",
		version:    "1.0",
		auth: []authDef{
			{
				name: connstr.ConnectionStringSpecName,
				typ:  "ConnectionStringAuth",
				desc: "Defines auth params required for connecting to PostgreSQL with a connection string.",
				props: []propDef{{name: "connectionString", typ: "string", format: "password",
					desc: "Connection string to connect to PostgreSQL: Server=…;Database=…;Port=…;UID=…;Password=…"}},
				required: []string{"connectionString"},
			},
			{
				name: connstr.BasicAuthSpecName,
				typ:  "PostgreSQLBasicAuth",
				desc: "Defines auth params required for connecting to PostgreSQL with basic authentication.",
				props: []propDef{
					{name: "server", typ: "string", desc: "Host name or IP address of the PostgreSQL server."},
					{name: "port", typ: "string", desc: "TCP port of the PostgreSQL server, as a string."},
					{name: "database", typ: "string", desc: "Name of the database."},
					{name: "username", typ: "string", desc: "User name for the database."},
					{name: "password", typ: "string", format: "password", desc: "Password for the user."},
					{name: "sslMode", typ: sslType, enum: sslModes, desc: "How to use SSL/TLS when connecting."},
				},
				required: []string{"server", "port", "database", "username", "password"},
			},
		},
	}
}

func (s specDef) findAuth(name string) (authDef, bool) {
	for _, a := range s.auth {
		if a.name == name {
			return a, true
		}
	}
	return authDef{}, false
}

func (s specDef) authNames() []string {
	var names []string
	for _, a := range s.auth {
		names = append(names, a.name)
	}
	return names
}

func (a authDef) prop(name string) (propDef, bool) {
	for _, p := range a.props {
		if p.name == name {
			return p, true
		}
	}
	return propDef{}, false
}

// item renders the spec as GET /connectionSpecs/{id} returns it.
func (s specDef) item() map[string]any {
	var auth []map[string]any
	for _, a := range s.auth {
		props := map[string]any{}
		for _, p := range a.props {
			m := map[string]any{"type": p.typ, "description": p.desc}
			if p.format != "" {
				m["format"] = p.format
			}
			if len(p.enum) > 0 {
				m["enum"] = p.enum
			}
			props[p.name] = m
		}
		auth = append(auth, map[string]any{
			"name": a.name,
			"type": a.typ,
			"spec": map[string]any{
				"$schema":     "http://json-schema.org/draft-07/schema#",
				"type":        "object",
				"description": a.desc,
				"properties":  props,
				"required":    a.required,
			},
		})
	}
	return map[string]any{
		"id":         s.id,
		"name":       s.name,
		"providerId": s.providerID,
		"version":    s.version,
		"authSpec":   auth,
		"attributes": map[string]any{"category": "Database", "isSource": true},
	}
}

// validateParams checks params against an auth spec the way a JSON schema
// would: required present and non-empty, every value a string, enums
// respected, no unknown params. It returns the params as strings.
func validateParams(a authDef, raw map[string]json.RawMessage) (map[string]string, error) {
	out := make(map[string]string, len(raw))
	for _, name := range slices.Sorted(maps.Keys(raw)) { // the same parameter is named every time
		v := raw[name]
		p, ok := a.prop(name)
		if !ok {
			return nil, fmt.Errorf("auth.params.%s is not a parameter of %q; allowed: %s", name, a.name, strings.Join(propNames(a), ", "))
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, fmt.Errorf("auth.params.%s must be a JSON string, got %s", name, truncate(string(v), 40))
		}
		if p.typ == "boolean" && s != "true" && s != "false" {
			// Emulator's choice: a boolean param arrives as the string
			// "true" or "false", as AEP's AWS example sends it.
			return nil, fmt.Errorf("auth.params.%s must be \"true\" or \"false\", got %q", name, s)
		}
		if len(p.enum) > 0 && !slices.Contains(p.enum, s) {
			return nil, fmt.Errorf("auth.params.%s value %q is not one of: %s", name, s, strings.Join(p.enum, ", "))
		}
		out[name] = s
	}
	for _, r := range a.required {
		if strings.TrimSpace(out[r]) == "" {
			return nil, fmt.Errorf("auth.params.%s is required for %q", r, a.name)
		}
	}
	return out, nil
}

func propNames(a authDef) []string {
	var names []string
	for _, p := range a.props {
		names = append(names, p.name)
	}
	return names
}

// masked returns params with every format=password value replaced by Masked.
func masked(a authDef, params map[string]string) map[string]string {
	out := make(map[string]string, len(params))
	for k, v := range params {
		if p, ok := a.prop(k); ok && p.format == "password" {
			v = Masked
		}
		out[k] = v
	}
	return out
}

// secrets lists the secret values in params, for scrubbing from messages.
func secrets(a authDef, params map[string]string) []string {
	var out []string
	for k, v := range params {
		if p, ok := a.prop(k); ok && p.format == "password" && v != "" {
			out = append(out, v)
			// A connection string's password may be quoted on its own.
			for _, sp := range connstr.SecretSpans(v) {
				part := v[sp.Start:sp.End]
				out = append(out, part, strings.Trim(part, "{}"))
			}
		}
	}
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func (h *Handler) getConnectionSpec(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if id != h.spec.id {
		flowError(w, r, http.StatusNotFound, "FLOW-1404-404", "Not Found", fmt.Sprintf("Connection spec with id %s not found", id))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": []any{h.spec.item()}})
}
