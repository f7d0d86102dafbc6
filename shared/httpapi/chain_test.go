package httpapi

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/phiguard/phiguard/shared/audit"
)

// Every audited request of the API chains its record; GET …/audit/verify says "intact through
// record N" and, after a record is deleted from the table, names the first missing record; the
// export is NDJSON that verifies offline with the public key the verification returned; both
// routes are owners' and audited.
func TestAuditVerifyAndExportThroughTheAPI(t *testing.T) {
	a := newAPI(t)
	ws := a.newWorkspace(t, "business", true)
	base := "/workspaces/" + ws.ID + "/audit"
	for range 3 {
		a.must(t, 200, "GET", "/workspaces/"+ws.ID, ws.Owner, "")
	}
	var v Verification
	a.must(t, 200, "GET", base+"/verify", ws.Owner, "").json(t, &v)
	if !v.Intact || v.Through < 4 || v.Summary != "intact through record "+strconv.FormatInt(v.Through, 10) || v.Signed != v.Through || !strings.Contains(v.PublicKey.PEM, "BEGIN PUBLIC KEY") {
		t.Fatalf("verification %+v", v)
	}
	a.must(t, 403, "GET", base+"/verify", ws.Member, "")
	a.must(t, 403, "GET", base+"/export", ws.Readonly, "")
	a.must(t, 400, "GET", base+"/export?from=yesterday", ws.Owner, "")
	a.must(t, 422, "GET", base+"/export?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", ws.Owner, "")

	res := a.must(t, 200, "GET", base+"/export", ws.Owner, "", "Accept", "application/x-ndjson")
	if ct := res.Header.Get("Content-Type"); ct != "application/x-ndjson" {
		t.Errorf("Content-Type %q", ct)
	}
	x, err := audit.ReadExport(strings.NewReader(res.Body))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := audit.ParsePublicKey(v.PublicKey.PEM)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := audit.VerifyExport(x, pub)
	if err != nil || !rep.Intact || rep.Through < v.Through+1 {
		t.Fatalf("the export verifies offline: %+v, %v", rep, err)
	}
	var actions []string
	for _, r := range x.Chain.Records {
		actions = append(actions, r.Action)
	}
	if got := strings.Join(actions, ","); !strings.Contains(got, "audit.verify,audit.verify,audit.export") {
		t.Errorf("the verify and export requests were not audited in order: %s", got)
	}

	// Delete record 2 directly in the table.
	victim := x.Chain.Records[1]
	_, err = a.client.DeleteItem(context.Background(), &dynamodb.DeleteItemInput{TableName: aws.String(a.table), Key: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "WS#" + ws.ID + "#AUDIT"},
		"sk": &types.AttributeValueMemberS{Value: victim.At.UTC().Format("2006-01-02T15:04:05.000000000Z") + "#" + victim.ID},
	}})
	if err != nil {
		t.Fatal(err)
	}
	v = Verification{}
	a.must(t, 200, "GET", base+"/verify", ws.Owner, "").json(t, &v)
	if v.Intact || v.Break == nil || v.Break.Seq != 2 || v.Summary != "broken at record 2: record 2 is missing (the next record present is 3)" {
		t.Fatalf("after deleting record 2: %+v", v)
	}
}
