package main

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"strings"
)

// helpRequested is returned by parseFlags for -h, -help or --help: run prints usage to stdout and
// exits 0.
type helpRequested struct{ usage string }

func (h helpRequested) Error() string { return "help requested" }

// flags is a command's flag set and its synopsis.
type flags struct {
	*flag.FlagSet
	usage string
}

// newFlags returns a flag set whose errors come back as usage errors instead of being printed;
// usage is the command's synopsis and description, which --help prints before the flags.
func newFlags(name, usage string) *flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &flags{fs, usage}
}

func parseFlags(fs *flags, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return helpRequested{flagUsage(fs)}
		}
		return usagef("%v", err)
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", clip(fs.Arg(0)))
	}
	return nil
}

// flagUsage returns the command's usage text: its synopsis, then every flag with its default.
func flagUsage(fs *flags) string {
	var b bytes.Buffer
	b.WriteString(fs.usage)
	fs.SetOutput(&b)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
	return strings.TrimRight(b.String(), "\n")
}

// isHelp reports whether args ask for help (for commands without a flag set).
func isHelp(args []string) bool {
	return len(args) == 1 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help")
}
