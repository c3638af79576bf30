package flowclient

import (
	_ "embed"
	"encoding/json"
	"net/netip"
	"slices"
	"strings"
)

// AllowList is Adobe's published list of the addresses AEP's batch sources
// connect from, region by region, which a source's firewall must admit.
// Adobe changes it from time to time, so it carries the date it was taken
// and where the live page is.
type AllowList struct {
	// Source is the page the list was taken from.
	Source string `json:"source"`
	// AsOf says when it was taken.
	AsOf string `json:"asOf"`
	// Note is Adobe's caveat, in short.
	Note string `json:"note"`
	// Regions are the regions' addresses, in the page's order.
	Regions []Region `json:"regions"`
}

// Region is one AEP region's addresses.
type Region struct {
	// Name is Adobe's region code, such as "va7".
	Name string `json:"region"`
	// Cloud is "azure" or "aws".
	Cloud string `json:"cloud"`
	// Ranges are the region's source addresses, as CIDR prefixes.
	Ranges []netip.Prefix `json:"ranges"`
}

//go:embed allowlist.json
var allowListJSON []byte

// Adobe's list as shipped; decoded once, and checked by the tests.
var allowList = func() AllowList {
	var l AllowList
	if err := json.Unmarshal(allowListJSON, &l); err != nil {
		panic("flowclient: allowlist.json: " + err.Error())
	}
	return l
}()

// AdobeAllowList returns the allow list flowclient ships, as Adobe's page
// (Source) gave it when AsOf says.
func AdobeAllowList() AllowList {
	l := allowList
	l.Regions = slices.Clone(l.Regions)
	return l
}

// Region returns the named region (case-insensitive), and false when the
// list does not know it.
func (l AllowList) Region(name string) (Region, bool) {
	for _, r := range l.Regions {
		if strings.EqualFold(r.Name, strings.TrimSpace(name)) {
			return r, true
		}
	}
	return Region{}, false
}

// Names lists the region codes, in the list's order.
func (l AllowList) Names() []string {
	names := make([]string, len(l.Regions))
	for i, r := range l.Regions {
		names[i] = r.Name
	}
	return names
}
