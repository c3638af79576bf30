package flowclient_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flowpg/flowpg/flowclient"
)

func TestUpdateConnection(t *testing.T) {
	c, srv, _ := setup(t)
	ctx := context.Background()
	created, err := c.CreateConnection(ctx, basicConn("rot"))
	require.NoError(t, err)

	params := basicConn("rot").Auth.Params
	params["password"] = "n3w-Pa55-rotated"
	up, err := c.UpdateConnection(ctx, created.ID, created.Etag, []flowclient.PatchOp{flowclient.ReplaceParams(params)})
	require.NoError(t, err)
	assert.Equal(t, created.ID, up.ID)
	assert.NotEqual(t, created.Etag, up.Etag, "a new etag")
	assert.Regexp(t, `^"[^"]+"$`, up.Etag, "quotes kept")
	assert.Equal(t, "n3w-Pa55-rotated", srv.Connections()[0].Params["password"])

	// The If-Match header carried the etag exactly as received.
	var got string
	for _, r := range srv.Requests() {
		if r.Method == http.MethodPatch {
			got = r.Header.Get("If-Match")
		}
	}
	assert.Equal(t, created.Etag, got)

	// The old etag is stale now: refused, nothing overwritten, and the
	// password of the refused request is not in the error.
	params["password"] = "0ther-Pa55-stale"
	_, err = c.UpdateConnection(ctx, created.ID, created.Etag, []flowclient.PatchOp{flowclient.ReplaceParams(params)})
	require.Error(t, err)
	assert.True(t, flowclient.IsStaleEtag(err), "%v", err)
	var ae *flowclient.APIError
	require.True(t, errors.As(err, &ae))
	assert.Equal(t, 412, ae.StatusCode)
	assert.Contains(t, ae.Meaning(), "etag is stale")
	assert.NotContains(t, err.Error(), "0ther-Pa55-stale")
	assert.Equal(t, "n3w-Pa55-rotated", srv.Connections()[0].Params["password"])
	assert.Equal(t, 1, countRequests(srv, http.MethodPatch, created.ID)-1, "a 412 is not retried")

	// A param the spec does not allow is a 400 that names it.
	bad := flowclient.Params{"server": "h", "port": "5432", "database": "d", "username": "u", "password": "p", "sslMode": "Sometimes"}
	_, err = c.UpdateConnection(ctx, created.ID, up.Etag, []flowclient.PatchOp{flowclient.ReplaceParams(bad)})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "sslMode")

	_, err = c.UpdateConnection(ctx, created.ID, "", []flowclient.PatchOp{flowclient.ReplaceParams(params)})
	assert.ErrorContains(t, err, "If-Match")
}

func TestPreviewUpdate_MasksSecrets(t *testing.T) {
	c, srv, _ := setup(t)
	p, err := c.PreviewUpdate("abc", `"etag-1"`, []flowclient.PatchOp{flowclient.ReplaceParams(basicConn("x").Auth.Params)})
	require.NoError(t, err)
	assert.Equal(t, http.MethodPatch, p.Method)
	assert.Equal(t, srv.URL()+"/connections/abc", p.URL)
	s := p.String() + p.Curl()
	assert.NotContains(t, s, "s3cret-Pa55")
	assert.Contains(t, s, `"password": "********"`)
	assert.Contains(t, s, `If-Match: "etag-1"`)
	assert.Contains(t, s, `"op": "replace"`)
	assert.True(t, strings.Contains(s, `"path": "/auth/params"`))
	assert.Empty(t, srv.Requests(), "a preview sends nothing")
}
