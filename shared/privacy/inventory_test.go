package privacy_test

import (
	"encoding/csv"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/phiguard/phiguard/shared/privacy"
)

func readCSV(t *testing.T, s string) [][]string {
	t.Helper()
	rows, err := csv.NewReader(strings.NewReader(s)).ReadAll()
	if err != nil {
		t.Fatalf("the output is not valid CSV: %v\n%s", err, s)
	}
	return rows
}

func TestWriteInventory(t *testing.T) {
	at := time.Date(2025, 3, 4, 5, 6, 7, 0, time.FixedZone("CET", 3600))
	entries := []privacy.InventoryEntry{
		{Path: "traits.email", Classification: privacy.Yellow, Matcher: "email", DecidedBy: "tok_123", DecidedAt: at},
		{Path: "properties.note", Classification: privacy.Green, Matcher: "", DecidedBy: "operator"},
		{Path: "properties.x", Classification: privacy.Red, Matcher: `=HYPERLINK("http://evil","click")`, DecidedBy: "@SUM(A1)", DecidedAt: at},
		{Path: "properties.y", Classification: privacy.Red, Matcher: "+1+2", DecidedBy: "-2+3", DecidedAt: at},
		{Path: "properties.z", Classification: privacy.Red, Matcher: "\tcmd", DecidedBy: "\r=1", DecidedAt: at},
		{Path: "traits.a,b", Classification: privacy.Yellow, Matcher: `say "hi"`, DecidedBy: "x\ny", DecidedAt: at},
	}
	var b strings.Builder
	if err := privacy.WriteInventory(&b, entries); err != nil {
		t.Fatal(err)
	}
	rows := readCSV(t, b.String())
	want := [][]string{
		{"path", "classification", "matcher", "decided_by", "decided_at"},
		{"traits.email", "yellow", "email", "tok_123", "2025-03-04T04:06:07Z"},
		{"properties.note", "green", "", "operator", ""},
		{"properties.x", "red", `'=HYPERLINK("http://evil","click")`, "'@SUM(A1)", "2025-03-04T04:06:07Z"},
		{"properties.y", "red", "'+1+2", "'-2+3", "2025-03-04T04:06:07Z"},
		{"properties.z", "red", "'\tcmd", "'\r=1", "2025-03-04T04:06:07Z"},
		{"traits.a,b", "yellow", `say "hi"`, "x\ny", "2025-03-04T04:06:07Z"},
	}
	tests := []struct {
		name string
		row  int
	}{
		{name: "the header names the columns", row: 0},
		{name: "a plain entry is written as is, its time in UTC", row: 1},
		{name: "an entry without matcher or time has empty cells", row: 2},
		{name: "cells starting with = or @ are prefixed with a quote", row: 3},
		{name: "cells starting with + or - are prefixed with a quote", row: 4},
		{name: "cells starting with a tab or carriage return are prefixed with a quote", row: 5},
		{name: "commas, quotes and newlines survive quoting", row: 6},
	}
	if len(rows) != len(want) {
		t.Fatalf("got %d rows, want %d:\n%s", len(rows), len(want), b.String())
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := strings.Join(rows[tt.row], "¦"); got != strings.Join(want[tt.row], "¦") {
				t.Errorf("row %d = %q, want %q", tt.row, rows[tt.row], want[tt.row])
			}
		})
	}
	t.Run("no cell starts with a formula character", func(t *testing.T) {
		for _, row := range rows {
			for _, cell := range row {
				if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
					t.Errorf("cell %q starts with a formula character", cell)
				}
			}
		}
	})
}

func TestInventoryWriterWritesTheHeaderForAnEmptyInventory(t *testing.T) {
	var b strings.Builder
	if err := privacy.NewInventoryWriter(&b).Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := b.String(), "path,classification,matcher,decided_by,decided_at\n"; got != want {
		t.Errorf("empty inventory = %q, want %q", got, want)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestInventoryWriterReportsWriteErrors(t *testing.T) {
	err := privacy.WriteInventory(failingWriter{}, []privacy.InventoryEntry{{Path: "traits.email", Classification: privacy.Yellow}})
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("WriteInventory to a failing writer = %v, want the write error", err)
	}
}
