package workspace

import (
	"testing"

	"github.com/phiguard/phiguard/shared/phi"
)

func TestCheckDestinationRefusesBeforeAnythingIsRead(t *testing.T) {
	owner := phi.Actor{Role: phi.RoleOwner}
	member := phi.Actor{Role: phi.RoleMember}
	good := DestinationInput{SourceID: phi.NewID(phi.PrefixSource), Name: "crm", Type: phi.DestinationWebhook,
		Settings: phi.DestinationSettings{URL: "https://crm.example/hook"}}
	queue := phi.DestinationSettings{RoleARN: "arn:aws:iam::123456789012:role/phiguard-delivery/q", QueueARN: "arn:aws:sqs:us-east-1:123456789012:events.fifo"}
	for _, c := range []struct {
		name  string
		a     phi.Actor
		in    func(DestinationInput) DestinationInput
		code  string
		field string
	}{
		{"a well-formed destination passes", member, func(in DestinationInput) DestinationInput { return in }, "", ""},
		{"a member sending hashing settings is forbidden", member, func(in DestinationInput) DestinationInput {
			in.Hashing = &phi.HashingSettings{}
			return in
		}, phi.EFORBIDDEN, ""},
		{"an owner may send them", owner, func(in DestinationInput) DestinationInput {
			in.Hashing = &phi.HashingSettings{}
			return in
		}, "", ""},
		{"a source id of another kind", member, func(in DestinationInput) DestinationInput {
			in.SourceID = phi.NewID(phi.PrefixDestination)
			return in
		}, phi.EINVALID, "sourceId"},
		{"an unknown type", member, func(in DestinationInput) DestinationInput { in.Type = "ftp"; return in }, phi.EINVALID, "type"},
		{"a webhook without its URL", member, func(in DestinationInput) DestinationInput { in.Settings.URL = ""; return in }, phi.EINVALID, "settings.url"},
		{"an sqs destination with its role and queue passes", member, func(in DestinationInput) DestinationInput {
			in.Type, in.Settings = phi.DestinationSQS, queue
			return in
		}, "", ""},
		{"an sqs destination whose role is in another account", member, func(in DestinationInput) DestinationInput {
			in.Type, in.Settings = phi.DestinationSQS, queue
			in.Settings.RoleARN = "arn:aws:iam::210987654321:role/phiguard-delivery/q"
			return in
		}, phi.EINVALID, "settings.queueArn"},
		{"an sqs destination with a webhook URL", member, func(in DestinationInput) DestinationInput {
			in.Type = phi.DestinationSQS
			return in
		}, phi.EINVALID, "settings.roleArn"},
		{"a name of white space", member, func(in DestinationInput) DestinationInput { in.Name = "  "; return in }, phi.EINVALID, "name"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := CheckDestination(c.a, c.in(good))
			if phi.ErrorCode(err) != c.code {
				t.Fatalf("err = %v, want code %q", err, c.code)
			}
			if c.field != "" {
				problems, _ := phi.ErrorDetails(err).([]phi.Problem)
				if len(problems) == 0 || problems[0].Field != c.field {
					t.Errorf("problems %v, want one naming %s", problems, c.field)
				}
			}
		})
	}
}

func TestPlanCheckKeepsTheBAAOnTheBusinessTier(t *testing.T) {
	for _, c := range []struct {
		plan  Plan
		field string
	}{
		{Plan{Tier: phi.TierBusiness, BAA: BAAInput{Signed: true, SignedBy: "Dana Scully, CISO"}}, ""},
		{Plan{Tier: phi.TierTeam}, ""},
		{Plan{Tier: phi.TierTeam, BAA: BAAInput{Signed: true, SignedBy: "Dana"}}, "baa.signed"},
		{Plan{Tier: phi.TierBusiness, BAA: BAAInput{Signed: true}}, "baa.signedBy"},
		{Plan{Tier: phi.TierFree, BAA: BAAInput{SignedBy: "Dana"}}, "baa.signedBy"},
		{Plan{Tier: "gold"}, "tier"},
	} {
		err := c.plan.Check()
		problems, _ := phi.ErrorDetails(err).([]phi.Problem)
		if c.field == "" && err != nil || c.field != "" && (len(problems) == 0 || problems[0].Field != c.field) {
			t.Errorf("%+v: err = %v, want a problem naming %q", c.plan, err, c.field)
		}
	}
}
