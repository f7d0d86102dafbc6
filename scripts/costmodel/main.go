// Command costmodel writes docs/COST.md and docs/SCALING.md from the end-to-end benchmark's
// figures (docs/cost/measured.json) and AWS's prices and quotas (docs/cost/prices.json):
// `make cost`. With -from it first copies a fresh measurement (build/bench-pipeline.json, written
// by `make bench`) over docs/cost/measured.json. Run it from the repository root.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/phiguard/phiguard/scripts/internal/costmodel"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "costmodel:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("costmodel", flag.ContinueOnError)
	from := fs.String("from", "", "a measurement written by `make bench` (build/bench-pipeline.json) to copy to "+costmodel.MeasuredFile+" first")
	root := fs.String("root", ".", "the repository root")
	if err := fs.Parse(args); err != nil {
		return err
	}
	measured := filepath.Join(*root, costmodel.MeasuredFile)
	if *from != "" {
		b, err := os.ReadFile(*from)
		if err != nil {
			return err
		}
		if err := os.WriteFile(measured, b, 0o644); err != nil {
			return err
		}
	}
	m, p, err := costmodel.Load(measured, filepath.Join(*root, costmodel.PricesFile))
	if err != nil {
		return err
	}
	for file, text := range map[string]string{costmodel.CostFile: costmodel.Cost(m, p), costmodel.ScalingFile: costmodel.Scaling(m, p)} {
		if err := os.WriteFile(filepath.Join(*root, file), []byte(text), 0o644); err != nil {
			return err
		}
		fmt.Println("wrote", file)
	}
	return nil
}
