package jsonlog

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestNewWritesJSONAtTheGivenLevel(t *testing.T) {
	var buf bytes.Buffer
	l, err := New(&buf, "warn")
	if err != nil {
		t.Fatal(err)
	}
	l.Info("hidden")
	l.Warn("shown", "count", 3)
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("not one JSON line: %q", buf.String())
	}
	if line["msg"] != "shown" || line["count"] != 3.0 {
		t.Fatalf("line = %v", line)
	}
}

func TestNewRefusesAnUnknownLevelWithoutEchoingIt(t *testing.T) {
	_, err := New(&bytes.Buffer{}, "loud-"+strings.Repeat("x", 100))
	if err == nil || strings.Count(err.Error(), "x") > 16 {
		t.Fatalf("err = %v", err)
	}
}
