package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
)

// Manifest is events/samples.json: every sample event, its function, and what the response
// must contain.
type Manifest struct {
	Comment string   `json:"comment"`
	Samples []Sample `json:"samples"`
}

// Sample is one sample event.
type Sample struct {
	File     string          `json:"file"`
	Function string          `json:"function"`
	Expect   json.RawMessage `json:"expect"`
}

// LoadManifest reads dir/samples.json; it fails if the file is missing or malformed.
func LoadManifest(dir string) (*Manifest, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "samples.json"))
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "samples.json"), err)
	}
	return &m, nil
}

// Functions returns the functions that have samples, in order of their first sample.
func (m *Manifest) Functions() []string {
	var out []string
	for _, s := range m.Samples {
		if !slices.Contains(out, s.Function) {
			out = append(out, s.Function)
		}
	}
	return out
}

// For returns the samples of one function, in manifest order.
func (m *Manifest) For(function string) []Sample {
	var out []Sample
	for _, s := range m.Samples {
		if s.Function == function {
			out = append(out, s)
		}
	}
	return out
}

// Match reports whether got contains want: objects match key by key (extra keys in got are
// fine), arrays element by element with equal length, scalars exactly. The error names the
// first difference by its JSON path.
func Match(want, got json.RawMessage) error {
	var w, g any
	if err := json.Unmarshal(want, &w); err != nil {
		return fmt.Errorf("expectation is not JSON: %w", err)
	}
	if err := json.Unmarshal(got, &g); err != nil {
		return fmt.Errorf("response is not JSON: %.200s", got)
	}
	if path, ok := contains(w, g, "$"); !ok {
		return fmt.Errorf("%w at %s: got %.300s", errMismatch, path, got)
	}
	return nil
}

func contains(want, got any, path string) (string, bool) {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return path, false
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				return path + "." + k, false
			}
			if p, ok := contains(wv, gv, path+"."+k); !ok {
				return p, false
			}
		}
		return "", true
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return path, false
		}
		for i := range w {
			if p, ok := contains(w[i], g[i], fmt.Sprintf("%s[%d]", path, i)); !ok {
				return p, false
			}
		}
		return "", true
	default:
		return path, reflect.DeepEqual(want, got)
	}
}
