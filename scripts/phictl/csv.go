package main

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/phiguard/phiguard/shared/fieldcrypt"
)

// csv decrypts a CSV file with a header row: the cells of the named columns, or with no columns
// named every cell that is a well-formed token. A decrypted string becomes its text, any other
// value its JSON text (an object's cell holds {"a":1}); a cell it cannot open is left as it is and
// reported on stderr by row and column. Empty cells stay empty.
func (d *decrypter) csv(r io.Reader, w io.Writer, columns []string) error {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	cr.FieldsPerRecord = -1
	cw := csv.NewWriter(w)
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return errors.New("stdin is empty: send CSV with a header row")
	}
	if err != nil {
		return fmt.Errorf("stdin: CSV header: %v", csvErr(err))
	}
	header = append([]string(nil), header...)
	want := make([]bool, len(header))
	for _, c := range columns {
		found := false
		for i, h := range header {
			if h == c {
				want[i], found = true, true
			}
		}
		if !found {
			return usagef("--column %q: no such column in the CSV header", clip(c))
		}
	}
	if err := cw.Write(header); err != nil {
		return fmt.Errorf("write stdout: %w", err)
	}
	for row := 2; ; row++ { // row 1 is the header
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("stdin: CSV row %d: %v", row, csvErr(err))
		}
		rep := &report{event: "row " + strconv.Itoa(row)}
		for i, cell := range rec {
			if cell == "" {
				continue
			}
			if i < len(want) && !want[i] && len(columns) > 0 {
				continue
			}
			name := "column " + strconv.Itoa(i+1)
			if i < len(header) {
				name = header[i]
			}
			if len(columns) == 0 {
				if _, err := fieldcrypt.Inspect(cell); err != nil {
					continue
				}
			}
			if v, ok := d.openToken(cell, rep, name, ""); ok {
				rec[i] = string(v.Data)
				clear(v.Data)
			}
		}
		rep.print(d.stderr)
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("write stdout: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write stdout: %w", err)
	}
	return nil
}

// csvErr keeps a CSV parse error's position and kind, never the text it quotes.
func csvErr(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return fmt.Errorf("line %d, column %d: %v", pe.Line, pe.Column, pe.Err)
	}
	return errors.New("not CSV")
}
