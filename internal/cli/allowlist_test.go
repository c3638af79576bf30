package cli

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flowpg/flowpg/flowclient"
)

// rules drops the comment lines of allowlist's text output.
func rules(out string) []string {
	var rs []string
	for _, ln := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.HasPrefix(ln, "#") {
			rs = append(rs, ln)
		}
	}
	return rs
}

func TestAllowlist_Formats(t *testing.T) {
	va7, _ := flowclient.AdobeAllowList().Region("va7")

	t.Run("cidr", func(t *testing.T) {
		code, out, errOut := runFlowpg(t, "", "allowlist", "--region", "va7")
		require.Equal(t, ExitOK, code, errOut)
		assert.Contains(t, out, "ip-address-allow-list", "the source page is named")
		assert.Contains(t, out, flowclient.AdobeAllowList().AsOf, "and the date of the list")
		rs := rules(out)
		require.Len(t, rs, len(va7.Ranges))
		for i, r := range rs {
			assert.Equal(t, va7.Ranges[i].String(), r)
		}
	})

	t.Run("pg_hba hostssl, or host when the mode allows plaintext", func(t *testing.T) {
		code, out, errOut := runFlowpg(t, "", "allowlist", "--region", "nld2", "--format", "pg_hba", "--user", "aep_reader", "--database", "sales")
		require.Equal(t, ExitOK, code, errOut)
		rs := rules(out)
		require.Len(t, rs, 7)
		assert.Equal(t, "hostssl sales aep_reader 13.69.67.192/28 scram-sha-256", rs[0])

		code, out, _ = runFlowpg(t, "", "allowlist", "--region", "nld2", "--format", "pg_hba", "--ssl-mode", "Prefer")
		require.Equal(t, ExitOK, code)
		assert.Equal(t, "host all all 13.69.67.192/28 scram-sha-256", rules(out)[0])

		code, _, errOut = runFlowpg(t, "", "allowlist", "--format", "pg_hba", "--user", "a b")
		assert.Equal(t, ExitInvalid, code)
		assert.Contains(t, errOut, "--user")
	})

	t.Run("az firewall rules span each range", func(t *testing.T) {
		code, out, errOut := runFlowpg(t, "", "allowlist", "--region", "aus5", "--format", "az", "--resource-group", "rg data", "--server-name", "pg-sales")
		require.Equal(t, ExitOK, code, errOut)
		rs := rules(out)
		require.Len(t, rs, 10)
		assert.Equal(t, "az postgres flexible-server firewall-rule create --resource-group 'rg data' --name pg-sales --rule-name adobe-aep-aus5-01 --start-ip-address 13.70.74.144 --end-ip-address 13.70.74.159", rs[0])
		assert.Contains(t, rs[1], "--start-ip-address 20.37.193.0 --end-ip-address 20.37.193.127") // a /25

		code, out, _ = runFlowpg(t, "", "allowlist", "--region", "aus5", "--format", "az")
		require.Equal(t, ExitOK, code)
		assert.Contains(t, out, `--resource-group "$AZ_RESOURCE_GROUP" --name "$AZ_SERVER_NAME"`, "placeholders are variables to set")
	})

	t.Run("aws security-group rules", func(t *testing.T) {
		code, out, errOut := runFlowpg(t, "", "allowlist", "--region", "va6", "--format", "aws", "--security-group", "sg-0abc", "--port", "6432")
		require.Equal(t, ExitOK, code, errOut)
		assert.Equal(t, []string{
			"aws ec2 authorize-security-group-ingress --group-id sg-0abc --protocol tcp --port 6432 --cidr 34.193.63.59/32",
			"aws ec2 authorize-security-group-ingress --group-id sg-0abc --protocol tcp --port 6432 --cidr 44.217.93.240/32",
			"aws ec2 authorize-security-group-ingress --group-id sg-0abc --protocol tcp --port 6432 --cidr 44.194.79.229/32",
		}, rules(out))
	})

	t.Run("json", func(t *testing.T) {
		code, out, errOut := runFlowpg(t, "", "allowlist", "-o", "json")
		require.Equal(t, ExitOK, code, errOut)
		var doc struct {
			Source, AsOf, Format string
			Regions              []struct {
				Region, Cloud string
				Ranges        []string
			}
			Lines []string
		}
		require.NoError(t, json.Unmarshal([]byte(out), &doc), out)
		assert.Equal(t, "cidr", doc.Format)
		require.Len(t, doc.Regions, 6, "every region without --region")
		n := 0
		for _, r := range doc.Regions {
			for _, p := range r.Ranges {
				_, err := netip.ParsePrefix(p)
				require.NoError(t, err)
				n++
			}
		}
		assert.Equal(t, 59, n)
		assert.Len(t, doc.Lines, n+6, "one comment line a region")
	})

	t.Run("unknown region lists the known ones", func(t *testing.T) {
		code, out, errOut := runFlowpg(t, "", "allowlist", "--region", "mars1")
		assert.Equal(t, ExitInvalid, code)
		assert.Empty(t, out)
		assert.Contains(t, errOut, `unknown AEP region "mars1" (known: va7, nld2, aus5, can2, ind2, va6)`)
	})
}

// TestPrefixRange checks the first and last address of prefixes of every
// length the list uses.
func TestPrefixRange(t *testing.T) {
	for _, tt := range []struct{ p, first, last string }{
		{"20.42.2.0/23", "20.42.2.0", "20.42.3.255"},
		{"20.119.28.57/32", "20.119.28.57", "20.119.28.57"},
		{"20.53.45.0/24", "20.53.45.0", "20.53.45.255"},
		{"48.211.4.136/29", "48.211.4.136", "48.211.4.143"},
	} {
		first, last := prefixRange(netip.MustParsePrefix(tt.p))
		assert.Equal(t, tt.first, first.String(), tt.p)
		assert.Equal(t, tt.last, last.String(), tt.p)
	}
}
