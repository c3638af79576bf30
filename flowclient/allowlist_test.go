package flowclient_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flowpg/flowpg/flowclient"
)

func TestAdobeAllowList(t *testing.T) {
	l := flowclient.AdobeAllowList()
	assert.Equal(t, []string{"va7", "nld2", "aus5", "can2", "ind2", "va6"}, l.Names())
	assert.NotEmpty(t, l.AsOf)
	assert.Contains(t, l.Source, "experienceleague.adobe.com")
	counts := map[string]int{"va7": 22, "nld2": 7, "aus5": 10, "can2": 8, "ind2": 9, "va6": 3}
	for _, r := range l.Regions {
		assert.Len(t, r.Ranges, counts[r.Name], r.Name)
		assert.Contains(t, []string{"azure", "aws"}, r.Cloud)
		for _, p := range r.Ranges {
			assert.True(t, p.IsValid() && p == p.Masked() && p.Addr().Is4(), "%s: %s is a canonical IPv4 prefix", r.Name, p)
		}
	}

	r, ok := l.Region("VA6")
	require.True(t, ok)
	assert.Equal(t, "aws", r.Cloud)
	assert.Equal(t, "34.193.63.59/32", r.Ranges[0].String())

	_, ok = l.Region("mars1")
	assert.False(t, ok)
}
