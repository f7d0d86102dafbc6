package workspace

import (
	"context"
	"time"

	"github.com/phiguard/phiguard/shared/catalog"
	"github.com/phiguard/phiguard/shared/phi"
)

// Tester writes one test record to an AWS destination and says what happened (awsdest.Senders).
type Tester interface {
	Test(ctx context.Context, d *phi.Destination) catalog.TestResult
}

// destinationTestTimeout bounds a destination test: an AssumeRole and one write.
const destinationTestTimeout = 15 * time.Second

// AccessPolicy returns what the customer pastes into IAM for destination id (catalog.AccessPolicy):
// ENOTFOUND when it does not exist, ECONFLICT for a webhook or when this deployment names no
// assuming roles, EINVALID when its settings no longer pass the catalog's checks.
func (s *Service) AccessPolicy(ctx context.Context, wsID, id string) (*catalog.Access, error) {
	d, _, err := s.Destination(ctx, wsID, id)
	if err != nil {
		return nil, err
	}
	if e, _ := catalog.Lookup(d.Type); e.AssumesRole && len(s.AssumingRoles) == 0 {
		return nil, phi.Errorf(phi.ECONFLICT, "this deployment does not name the roles that deliver to AWS destinations, so it cannot give their trust policy; ask the operator")
	}
	return catalog.AccessPolicy(d, s.AssumingRoles)
}

// TestDestination assumes destination id's role and writes one test record with s.Tester,
// returning what happened — a failure at AWS is a result, not an error. It returns ENOTFOUND when
// the destination does not exist, ECONFLICT for a type without a test record (a webhook) or
// when this deployment has no tester, EINVALID when its settings no longer pass the catalog's
// checks.
func (s *Service) TestDestination(ctx context.Context, wsID, id string) (*catalog.TestResult, error) {
	d, _, err := s.Destination(ctx, wsID, id)
	if err != nil {
		return nil, err
	}
	if e, _ := catalog.Lookup(d.Type); !e.AssumesRole || s.Tester == nil {
		return nil, phi.Errorf(phi.ECONFLICT, "%s destinations have no test record here; the test is for the AWS destination types", phi.Clip(string(d.Type), 40))
	}
	if err := phi.Invalid(catalog.Check(d.Type, d.Settings)); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, destinationTestTimeout)
	defer cancel()
	r := s.Tester.Test(ctx, d)
	return &r, nil
}
