// Package eventcorpus is the seeded corpus of realistic Segment-spec events the benchmarks
// share (the transform's and the end-to-end pipeline's): identify, track and page events of
// 0.5–4 KB with the PHI a healthcare storefront sends — e-mail, phone, name, address, birthday,
// IP, sometimes a social security number, ordered products, a shipping address — beside the
// context, page and custom fields every event carries.
package eventcorpus

import (
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
)

// Events returns the first n events of the corpus, JSON-encoded. The corpus is the same on every
// call and every machine (a fixed seed); event i's messageId starts with "msg-%08d".
func Events(n int) [][]byte {
	rng := mrand.New(mrand.NewPCG(20240601, 5))
	out := make([][]byte, 0, n)
	for i := range n {
		b, err := json.Marshal(event(rng, i))
		if err != nil {
			panic(err) // maps of strings, numbers and bools always encode
		}
		out = append(out, b)
	}
	return out
}

var (
	firstNames = []string{"Ana", "José", "Li", "Mary-Jane", "O'Neil", "Zoë", "Ahmed", "Priya", "Jürgen", "Sam"}
	lastNames  = []string{"García", "Smith", "Nguyen", "O'Brien", "Müller", "Kowalski", "Okafor", "Tanaka"}
	cities     = []string{"Springfield", "Zürich", "São Paulo", "Portland", "Austin", "Lyon"}
	productsN  = []string{"Glucose Test Strips", "Prenatal Vitamins", "Blood Pressure Monitor", "Insulin Cooler Bag", "Allergy Relief 24h", "Knee Brace \"Pro\""}
)

func one[T any](r *mrand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

func address(r *mrand.Rand) map[string]any {
	return map[string]any{
		"street": fmt.Sprintf("%d %s St", 1+r.IntN(9999), one(r, lastNames)), "city": one(r, cities),
		"state": "CA", "postal_code": fmt.Sprintf("%05d", r.IntN(99999)), "country": "US",
	}
}

func event(r *mrand.Rand, i int) map[string]any {
	first, last := one(r, firstNames), one(r, lastNames)
	email := fmt.Sprintf(" %s.%s%d@Example.com", first, last, i)
	phone := fmt.Sprintf("(%03d) %03d-%04d", 200+r.IntN(799), r.IntN(999), r.IntN(9999))
	ev := map[string]any{
		"messageId":   fmt.Sprintf("msg-%08d-%x", i, r.Uint64()),
		"anonymousId": fmt.Sprintf("anon-%x", r.Uint64()),
		"userId":      fmt.Sprintf("user-%d", r.IntN(100000)),
		"timestamp":   "2024-06-01T12:34:56.789Z",
		"sentAt":      "2024-06-01T12:34:57.001Z",
		"context": map[string]any{
			"ip":        fmt.Sprintf("%d.%d.%d.%d", r.IntN(256), r.IntN(256), r.IntN(256), r.IntN(256)),
			"library":   map[string]any{"name": "analytics.js", "version": "5.2.1"},
			"locale":    "en-US",
			"timezone":  "America/Los_Angeles",
			"userAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0 Safari/537.36",
			"page": map[string]any{"path": "/checkout", "referrer": "https://www.example.com/cart",
				"title": "Checkout", "url": "https://www.example.com/checkout?step=2"},
			"traits": map[string]any{"email": email, "phone": phone},
		},
		"integrations": map[string]any{"All": true},
	}
	switch i % 3 {
	case 0:
		ev["type"] = "identify"
		traits := map[string]any{
			"email": email, "phone": phone, "name": first + " " + last, "first_name": first, "last_name": last,
			"address": address(r), "birthday": fmt.Sprintf("19%02d-%02d-%02d", 40+r.IntN(60), 1+r.IntN(12), 1+r.IntN(28)),
			"plan": "premium", "logins": r.IntN(500), "created_at": "2021-03-04T05:06:07Z",
			"company": map[string]any{"name": "Acme Health", "id": "c-42", "industry": "Healthcare", "employee_count": 250},
		}
		if r.IntN(4) == 0 {
			traits["ssn"] = fmt.Sprintf("%03d-%02d-%04d", r.IntN(999), r.IntN(99), r.IntN(9999))
		}
		for k := 0; k < r.IntN(12); k++ {
			traits[fmt.Sprintf("custom_attribute_%d", k)] = fmt.Sprintf("value %d of some custom attribute", r.IntN(1000))
		}
		ev["traits"] = traits
	case 1:
		ev["type"] = "track"
		ev["event"] = "Order Completed"
		var products []any
		for k := 0; k < 1+r.IntN(8); k++ {
			products = append(products, map[string]any{
				"product_id": fmt.Sprintf("p-%d", r.IntN(99999)), "sku": fmt.Sprintf("SKU-%06d", r.IntN(999999)),
				"name": one(r, productsN), "price": float64(r.IntN(10000)) / 100, "quantity": 1 + r.IntN(3),
				"category": "Health", "brand": "Acme", "variant": "Standard",
				"url": "https://www.example.com/p/" + fmt.Sprint(r.IntN(9999)), "image_url": "https://cdn.example.com/i/" + fmt.Sprint(r.IntN(9999)) + ".jpg",
			})
		}
		ev["properties"] = map[string]any{
			"order_id": fmt.Sprintf("o-%d", r.IntN(1e6)), "total": 99.95, "revenue": 89.95, "shipping": 5, "tax": 5,
			"currency": "USD", "products": products, "shipping_address": address(r),
		}
	default:
		ev["type"] = "page"
		ev["name"] = "Checkout"
		ev["properties"] = map[string]any{"path": "/checkout", "referrer": "https://www.example.com/cart",
			"title": "Checkout", "url": "https://www.example.com/checkout?step=2", "search": ""}
	}
	return ev
}
