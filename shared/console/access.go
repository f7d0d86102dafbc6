package console

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/phiguard/phiguard/shared/catalog"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/stack"
)

// accessView is an AWS destination's role section on its page: the trust and permissions
// policies to paste into IAM (catalog.AccessPolicy through workspace.Service.AccessPolicy, as
// GET …/access-policy gives them), or why there are none, and the last "Test destination" result.
type accessView struct {
	RoleARN, ExternalID string
	Trust, Permissions  string // indented JSON
	Unavailable         string // why there are no policies (no assuming roles, settings refused)
	Test                *catalog.TestResult
	TestRefused         string // why the test could not run (ECONFLICT, EINVALID)
}

// loadAccess fills v.Access for an existing destination of a type reached through a role in
// the customer's account, audited as GET …/access-policy is. A refusal the owner can act on
// (ECONFLICT, EINVALID) is shown in the section instead of failing the page.
func (c *Console) loadAccess(r *http.Request, v *setupView) error {
	if v.New || !v.Entry.AssumesRole {
		return nil
	}
	if v.Access == nil {
		v.Access = &accessView{}
	}
	a := state(r).actor
	var access *catalog.Access
	err := c.act(r, stack.RouteGetAccessPolicy, "destinations/"+v.Dst.ID+"/access-policy", func(ctx context.Context) error {
		var err error
		access, err = c.Service.AccessPolicy(ctx, a.WorkspaceID, v.Dst.ID)
		return err
	})
	if msg, err := shownInSection(err); err != nil {
		return err
	} else if msg != "" {
		v.Access.Unavailable = msg
		return nil
	}
	trust, err := json.MarshalIndent(access.TrustPolicy, "", "  ")
	if err != nil {
		return err
	}
	perms, err := json.MarshalIndent(access.PermissionsPolicy, "", "  ")
	if err != nil {
		return err
	}
	v.Access.RoleARN, v.Access.ExternalID = access.RoleARN, access.ExternalID
	v.Access.Trust, v.Access.Permissions = string(trust), string(perms)
	return nil
}

// shownInSection splits err: the refusals the section explains (a conflict, settings that no
// longer pass the catalog's checks) become a message; anything else stays an error for the
// error page.
func shownInSection(err error) (string, error) {
	switch phi.ErrorCode(err) {
	case "":
		return "", nil
	case phi.ECONFLICT, phi.EINVALID:
		return phi.ErrorMessage(err), nil
	}
	return "", err
}

// testDestination is the "Test destination" button: the same test as POST …/destinations/{id}/test
// (workspace.Service.TestDestination, audited as destination.test), its result shown beside the
// button on the destination's page — success, or AWS's error in plain words.
func (c *Console) testDestination(w http.ResponseWriter, r *http.Request) error {
	d, err := c.destination(r)
	if err != nil {
		return err
	}
	a := state(r).actor
	var res *catalog.TestResult
	err = c.act(r, stack.RouteTestDestination, "destinations/"+d.ID+"/test", func(ctx context.Context) error {
		var err error
		res, err = c.Service.TestDestination(ctx, a.WorkspaceID, d.ID)
		return err
	})
	v := &setupView{Dst: d, Form: formOf(d), Access: &accessView{Test: res}}
	v.Entry, _ = catalogEntry(string(d.Type))
	if v.Access.TestRefused, err = shownInSection(err); err != nil {
		return err
	}
	return c.renderSetup(w, r, http.StatusOK, v)
}
