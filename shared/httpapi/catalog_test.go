package httpapi

import (
	"encoding/json"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/phiguard/phiguard/shared/catalog"
	"github.com/phiguard/phiguard/shared/phi"
)

func TestCatalogAnswersEveryTypeWithItsSchema(t *testing.T) {
	rec := httptest.NewRecorder()
	if err := getCatalog(rec, httptest.NewRequest("GET", "/catalog", nil)); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Items []struct {
			Type           phi.DestinationType `json:"type"`
			HIPAAEligible  bool                `json:"hipaaEligible"`
			BAA            string              `json:"baa"`
			Limits         catalog.Limits      `json:"limits"`
			SettingsSchema struct {
				Required []string `json:"required"`
			} `json:"settingsSchema"`
		} `json:"items"`
		RolePath string `json:"rolePath"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	var types []phi.DestinationType
	for _, it := range got.Items {
		types = append(types, it.Type)
		if !it.HIPAAEligible || it.BAA == "" || it.Limits.MaxBatchRecords == 0 || !slices.Contains(it.SettingsSchema.Required, map[bool]string{true: "url", false: "roleArn"}[it.Type == phi.DestinationWebhook]) {
			t.Errorf("%s: %+v", it.Type, it)
		}
	}
	if !slices.Equal(types, catalog.Types()) || got.RolePath != "/phiguard-delivery/" {
		t.Errorf("types %v, role path %q", types, got.RolePath)
	}
}
