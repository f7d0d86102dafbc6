package httpapi

import (
	"net/http"

	"github.com/phiguard/phiguard/shared/catalog"
)

// CatalogEntry is a destination type as GET /catalog shows it: the catalog's entry and the JSON
// Schema of its settings.
type CatalogEntry struct {
	catalog.Entry
	SettingsSchema map[string]any `json:"settingsSchema"`
}

// CatalogView is the body of GET /catalog.
type CatalogView struct {
	Items []CatalogEntry `json:"items"`
	// RolePath is the IAM path the roles of the AWS destination types must be on.
	RolePath string `json:"rolePath"`
}

// NewCatalogView returns the whole catalog as GET /catalog answers it.
func NewCatalogView() CatalogView {
	v := CatalogView{RolePath: catalog.RolePath, Items: make([]CatalogEntry, len(catalog.Entries))}
	for i, e := range catalog.Entries {
		v.Items[i] = CatalogEntry{Entry: e, SettingsSchema: e.Schema()}
	}
	return v
}

func getCatalog(w http.ResponseWriter, _ *http.Request) error {
	WriteJSON(w, http.StatusOK, NewCatalogView())
	return nil
}
