package cli

import (
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"

	"github.com/flowpg/flowpg/connstr"
	"github.com/flowpg/flowpg/flowclient"
)

// AllowlistCmd prints the addresses AEP connects from, as firewall rules.
type AllowlistCmd struct {
	Region        string `placeholder:"REGION" help:"AEP region: va7, nld2, aus5, can2, ind2 (Azure) or va6 (AWS). Every region when absent."`
	Format        string `default:"cidr" enum:"cidr,pg_hba,az,aws" help:"cidr (one range a line), pg_hba (pg_hba.conf lines), az (Azure Database for PostgreSQL flexible-server firewall rules) or aws (security-group ingress rules)."`
	Output        string `short:"o" enum:"text,json" default:"text" help:"Output format: text or json."`
	User          string `default:"all" help:"pg_hba: the user AEP logs in as."`
	Database      string `default:"all" help:"pg_hba: the database AEP reads."`
	SSLMode       string `name:"ssl-mode" default:"verify-full" help:"pg_hba: the sslMode AEP uses; hostssl lines unless it allows plaintext (disable, allow, prefer)."`
	Port          int    `default:"5432" help:"aws: the database's port."`
	ResourceGroup string `name:"resource-group" placeholder:"RG" help:"az: the server's resource group (else the commands read $$AZ_RESOURCE_GROUP)."`
	ServerName    string `name:"server-name" placeholder:"NAME" help:"az: the flexible server's name (else $$AZ_SERVER_NAME)."`
	SecurityGroup string `name:"security-group" placeholder:"SG-ID" help:"aws: the security group's id (else $$AWS_SECURITY_GROUP_ID)."`
}

// Help is shown by flowpg allowlist --help.
func (AllowlistCmd) Help() string {
	l := flowclient.AdobeAllowList()
	return `Prints the addresses AEP's batch sources connect from, which the database's
firewall and pg_hba.conf must admit: as CIDR ranges, pg_hba.conf lines, Azure
CLI firewall rules or AWS CLI security-group rules. flowpg ships Adobe's list
as of ` + l.AsOf + `; Adobe changes it from time to time, so compare with
` + l.Source + `.

Examples:
  flowpg allowlist --region va7
  flowpg allowlist --region va7 --format pg_hba --user aep_reader --database sales
  flowpg allowlist --region nld2 --format az --resource-group rg-data --server-name pg-sales
  flowpg allowlist --region va6 --format aws --security-group sg-0123456789abcdef0 --port 5432
  flowpg allowlist -o json

Exit codes: 0 printed, 2 an unknown region or a bad flag.`
}

// allowlistReport is allowlist's JSON document.
type allowlistReport struct {
	Source  string              `json:"source"`
	AsOf    string              `json:"asOf"`
	Format  string              `json:"format"`
	Regions []flowclient.Region `json:"regions"`
	Lines   []string            `json:"lines"`
}

// Run prints the ranges of the region, or of every region.
func (c *AllowlistCmd) Run(streams *IO) error {
	l := flowclient.AdobeAllowList()
	regions := l.Regions
	if c.Region != "" {
		r, err := lookupRegion(c.Region)
		if err != nil {
			return invalid(err)
		}
		regions = []flowclient.Region{r}
	}
	lines, err := c.lines(regions)
	if err != nil {
		return invalid(err)
	}
	if c.Output == "json" {
		if err := writeJSON(streams.Stdout, allowlistReport{Source: l.Source, AsOf: l.AsOf, Format: c.Format, Regions: regions, Lines: lines}); err != nil {
			return failed(err)
		}
		return nil
	}
	var b strings.Builder
	// '#' starts a comment in pg_hba.conf and in a shell alike.
	fmt.Fprintf(&b, "# AEP's addresses as Adobe listed them %s: %s\n", l.AsOf, l.Source)
	for _, ln := range lines {
		b.WriteString(ln)
		b.WriteByte('\n')
	}
	if _, err := io.WriteString(streams.Stdout, b.String()); err != nil {
		return failed(err)
	}
	return nil
}

// lines renders regions in c.Format, a region's comment line before its
// rules.
func (c *AllowlistCmd) lines(regions []flowclient.Region) ([]string, error) {
	hbaType := "hostssl"
	if c.Format == "pg_hba" {
		m, err := connstr.ParseSSLMode(c.SSLMode)
		if err != nil || m == connstr.SSLModeUnset {
			return nil, fmt.Errorf("--ssl-mode %q is not an sslMode (disable, allow, prefer, require, verify-ca, verify-full)", c.SSLMode)
		}
		if m < connstr.SSLRequire {
			hbaType = "host" // the mode allows plaintext; hostssl would refuse it
		}
		for _, v := range []struct{ flag, value string }{{"--user", c.User}, {"--database", c.Database}} {
			if v.value == "" || strings.ContainsAny(v.value, " \t\n\"#") {
				return nil, fmt.Errorf("%s %q cannot be written into pg_hba.conf: give a plain name", v.flag, v.value)
			}
		}
	}
	if c.Format == "aws" && (c.Port < 1 || c.Port > 65535) {
		return nil, fmt.Errorf("--port %d is out of range 1-65535", c.Port)
	}
	var out []string
	for _, r := range regions {
		out = append(out, fmt.Sprintf("# %s (%s), %d ranges", r.Name, r.Cloud, len(r.Ranges)))
		for i, p := range r.Ranges {
			switch c.Format {
			case "cidr":
				out = append(out, p.String())
			case "pg_hba":
				out = append(out, fmt.Sprintf("%s %s %s %s scram-sha-256", hbaType, c.Database, c.User, p))
			case "az":
				first, last := prefixRange(p)
				out = append(out, fmt.Sprintf("az postgres flexible-server firewall-rule create --resource-group %s --name %s --rule-name %s --start-ip-address %s --end-ip-address %s",
					shellArg(c.ResourceGroup, `"$AZ_RESOURCE_GROUP"`), shellArg(c.ServerName, `"$AZ_SERVER_NAME"`),
					fmt.Sprintf("adobe-aep-%s-%02d", r.Name, i+1), first, last))
			case "aws":
				out = append(out, fmt.Sprintf("aws ec2 authorize-security-group-ingress --group-id %s --protocol tcp --port %s --cidr %s",
					shellArg(c.SecurityGroup, `"$AWS_SECURITY_GROUP_ID"`), strconv.Itoa(c.Port), p))
			}
		}
	}
	return out, nil
}

// prefixRange returns the first and last address of an IPv4 prefix.
func prefixRange(p netip.Prefix) (netip.Addr, netip.Addr) {
	first := p.Masked().Addr()
	b := first.As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | host
	return first, netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// shellArg quotes v for a POSIX shell, or returns placeholder, a quoted
// shell variable the user sets, when v is empty.
func shellArg(v, placeholder string) string {
	if v == "" {
		return placeholder
	}
	return shellWord(v)
}
