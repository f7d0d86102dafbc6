package fieldcrypt

import (
	"os"
	"strings"
	"testing"
)

// TestTheDocumentStatesTheContractsLimits: issue 15's corrections to docs/ENCRYPTION.md stay in it
// — no sender authentication and what does authenticate, no binding to field, event or patient,
// the exact X-Wing draft, batches, versions, and the padding buckets.
func TestTheDocumentStatesTheContractsLimits(t *testing.T) {
	md, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.Join(strings.Fields(string(md)), " ")
	for _, want := range []string{
		"no sender authentication",
		"can make a new, valid token of any value under any key id",
		"What authenticates the data is the delivery",
		"webhook-signature",
		"Not bound to a field, an event or a patient",
		"draft-connolly-cfrg-xwing-kem-06",
		"silently incompatible",
		"OpenSSL 3.0 cannot parse X-Wing keys",
		"### 3.5 Batches, and what a receiver may assume",
		`{"batch": [event, …]}`,
		"The prefix is the version",
		"PaddedLen(m) = 32",
		"`0x73` `s` | string",
		"Key-ID: key_",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("docs/ENCRYPTION.md no longer says %q", want)
		}
	}
	if strings.Contains(doc, "confidential and unmodifiable") {
		t.Error("docs/ENCRYPTION.md still claims tokens are unmodifiable without saying who can mint them")
	}
}
