package privacy

import (
	"encoding/csv"
	"fmt"
	"io"
	"time"
)

// InventoryEntry is one decided classification in a workspace's inventory:
// which field, how it is classified, the matcher that recommended it (name or
// ID; empty if none), who decided (a token ID or "operator") and when.
type InventoryEntry struct {
	Path           FieldPath
	Classification Classification
	Matcher        string
	DecidedBy      string
	DecidedAt      time.Time
}

// InventoryHeader is the first row of every inventory CSV.
var InventoryHeader = []string{"path", "classification", "matcher", "decided_by", "decided_at"}

// InventoryWriter writes an inventory as CSV (RFC 4180, via encoding/csv),
// one entry at a time, so a handler can stream pages from its store. The
// header row comes first, even for an empty inventory. Every cell that a
// spreadsheet would run as a formula — one starting with =, +, -, @, a tab or
// a carriage return — is prefixed with a single quote (OWASP's advice against
// CSV injection); matcher names and actors are caller-controlled text.
// Times are written in UTC as RFC 3339; a zero time is written as "".
type InventoryWriter struct {
	w      *csv.Writer
	header bool
}

// NewInventoryWriter returns an InventoryWriter writing to w.
func NewInventoryWriter(w io.Writer) *InventoryWriter {
	return &InventoryWriter{w: csv.NewWriter(w)}
}

// Write writes one entry (after the header, the first time). It returns the
// underlying writer's error, if any, wrapped.
func (iw *InventoryWriter) Write(e InventoryEntry) error {
	if err := iw.writeHeader(); err != nil {
		return err
	}
	at := ""
	if !e.DecidedAt.IsZero() {
		at = e.DecidedAt.UTC().Format(time.RFC3339)
	}
	row := []string{
		defuse(string(e.Path)),
		defuse(string(e.Classification)),
		defuse(e.Matcher),
		defuse(e.DecidedBy),
		at,
	}
	if err := iw.w.Write(row); err != nil {
		return fmt.Errorf("write inventory row: %w", err)
	}
	return nil
}

func (iw *InventoryWriter) writeHeader() error {
	if iw.header {
		return nil
	}
	iw.header = true
	if err := iw.w.Write(InventoryHeader); err != nil {
		return fmt.Errorf("write inventory header: %w", err)
	}
	return nil
}

// Close writes the header if no entry was written, flushes, and returns the
// first write error, wrapped. It does not close the underlying io.Writer.
func (iw *InventoryWriter) Close() error {
	if err := iw.writeHeader(); err != nil {
		return err
	}
	iw.w.Flush()
	if err := iw.w.Error(); err != nil {
		return fmt.Errorf("flush inventory: %w", err)
	}
	return nil
}

// WriteInventory writes entries as an inventory CSV (see InventoryWriter) to
// w and returns the first write error, wrapped.
func WriteInventory(w io.Writer, entries []InventoryEntry) error {
	iw := NewInventoryWriter(w)
	for _, e := range entries {
		if err := iw.Write(e); err != nil {
			return err
		}
	}
	return iw.Close()
}

// defuse prefixes a cell that a spreadsheet would evaluate with a single
// quote, so it is shown as text.
func defuse(cell string) string {
	if cell == "" {
		return cell
	}
	switch cell[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + cell
	}
	return cell
}
