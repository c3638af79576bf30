package flowclient

import "strings"

// codeMeanings are the Flow Service error codes the connection lifecycle
// meets, from Adobe's flow-service-errors and sources-errors pages, in the
// words a user needs. They appear in the error type as FLOW-<code>-<status>;
// the key is what follows "FLOW-".
var codeMeanings = map[string]string{
	"1403-400": "the update carried no If-Match header with the connection's etag",
	"1404-412": "the connection changed since it was read (its etag is stale): read it again before updating",
	"1416-400": "the connection's current state does not allow deleting it",
	"1417-400": "the connection's current state does not allow updating it",
	"1418-400": "the base connection is used by dataflows and cannot be deleted: delete or move its dataflows first",
	"1300-400": "this source does not support updates through PATCH: delete the connection and create it again",
	"1445-400": "the PATCH feature is not enabled for this organization: ask Adobe support, or delete and create the connection again",
	"1308-400": "the ingestion backend reported an error (the text that follows is its own, often a driver or network failure)",
	"1330-400": "no columns were found for the table",
}

// Meaning says in words what e's Adobe error code means for the user, or ""
// when the code is not one flowclient knows.
func (e *APIError) Meaning() string {
	code, ok := strings.CutPrefix(e.Code, "FLOW-")
	if !ok {
		return ""
	}
	return codeMeanings[code]
}
