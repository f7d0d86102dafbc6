package workspace

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/privacy"
)

// Snapshots reads a workspace's whole configuration at once. *dynamo.Store satisfies it.
type Snapshots interface {
	// LoadSnapshot returns the workspace, its sources, destinations, keys and classifications,
	// and its custom matchers; ENOTFOUND for an unknown workspace.
	LoadSnapshot(ctx context.Context, wsID string) (*phi.Snapshot, []privacy.Matcher, error)
}

// ExportFormat names the configuration export's format.
const ExportFormat = "phiguard-workspace-export/1"

// Export is a workspace's whole configuration as one document, for its owner to keep before
// leaving: the workspace, its sources, destinations (their settings hold no secret), keys'
// metadata (public keys and fingerprints; never a private key or an HMAC key, which the service
// does not hold or holds only encrypted), classifications and custom matchers.
type Export struct {
	Format          string               `json:"format"`
	ExportedAt      time.Time            `json:"exportedAt"`
	Workspace       phi.Workspace        `json:"workspace"`
	Sources         []phi.Source         `json:"sources"`
	Destinations    []phi.Destination    `json:"destinations"`
	Keys            []phi.Key            `json:"keys"`
	Classifications []phi.Classification `json:"classifications"`
	Matchers        []privacy.Matcher    `json:"matchers"`
}

// Export returns workspace wsID's configuration (see [Export]), each list in id (or path)
// order and never null. It returns ENOTFOUND for an unknown workspace.
func (s *Service) Export(ctx context.Context, wsID string) (*Export, error) {
	snap, matchers, err := s.Store.LoadSnapshot(ctx, wsID)
	if err != nil {
		return nil, wrap(err, "export workspace %s", wsID)
	}
	x := &Export{
		Format: ExportFormat, ExportedAt: s.now(), Workspace: snap.Workspace,
		Sources: nonNil(snap.Sources), Destinations: nonNil(snap.Destinations), Keys: nonNil(snap.Keys),
		Classifications: nonNil(snap.Classifications), Matchers: nonNil(matchers),
	}
	for i := range x.Keys {
		x.Keys[i].EncryptedHMACKey = nil // not exported (json:"-"), and not kept in memory longer
	}
	slices.SortFunc(x.Sources, func(a, b phi.Source) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(x.Destinations, func(a, b phi.Destination) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(x.Keys, func(a, b phi.Key) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(x.Classifications, func(a, b phi.Classification) int { return strings.Compare(a.Path, b.Path) })
	slices.SortFunc(x.Matchers, func(a, b privacy.Matcher) int { return strings.Compare(a.ID, b.ID) })
	return x, nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
