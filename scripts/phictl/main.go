// Command phictl is the customer's and engineer's tool for phiguard's field cryptography:
//
//	phictl keygen  [--alg ALG] [--rsa-bits N] [--key-id ID] --private-out FILE --public-out FILE
//	phictl encrypt --public-key FILE --key-id ID [--alg ALG] [--padding buckets|none] --field PATH [--field PATH…]
//	phictl decrypt --private-key PATH[:KEYID] [--private-key …] [--key-list FILE] [--typed] [--strict] [--csv [--column NAME…]]
//	phictl inspect TOKEN
//	phictl audit verify [--public-key FILE] < export.ndjson
//	phictl dead-letters count|replay --api URL --workspace WS --destination DST
//	phictl COMMAND --help
//
// keygen makes a key pair offline (for bring-your-own-key uploads). encrypt reads Segment events
// — one JSON object, JSON lines, or {"batch": […]} — on stdin and writes them to stdout, one per
// line, with the named fields encrypted by the same code the hashing pipeline runs (shared/transform
// with fieldcrypt), the "_phi" manifest included. decrypt turns every token it holds a key for back
// into its value and leaves the others as they are, naming them on stderr. inspect shows what a
// token is without any key. audit verify checks an audit export offline (docs/AUDIT.md).
// dead-letters counts or replays a destination's dead letters through the API, with an owner
// token from $PHI_TOKEN.
//
// Errors are one line on stderr and a non-zero exit: 2 for a usage error, 1 for bad input (not
// JSON, a missing file, a wrong key type, a corrupt token). No error, and no output but decrypt's
// stdout, ever contains a key, a plaintext value or a token.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/phiguard/phiguard/shared/fieldcrypt"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/transform"
)

// Exit codes.
const (
	exitOK       = 0
	exitFailure  = 1 // bad input or a failed operation
	exitUsage    = 2 // unknown command or flag, missing argument
	exitLeftOver = 3 // decrypt --strict: some tokens stayed encrypted
	exitBroken   = 4 // audit verify: the audit chain is broken
)

var usage = `usage:
  phictl keygen  [--alg ALG] [--rsa-bits N] [--key-id ID] --private-out FILE --public-out FILE
  phictl encrypt --public-key FILE --key-id ID [--alg ALG] [--padding buckets|none] --field PATH [--field PATH...]  < events > protected
  phictl decrypt --private-key PATH[:KEYID] [--private-key ...] [--key-list FILE] [--typed] [--strict] [--csv [--column NAME...]]   < protected > events
  phictl inspect TOKEN          (TOKEN "-" reads it from stdin)
  phictl audit verify [--public-key FILE]  < audit-export.ndjson   (exit 4: the chain is broken)
  phictl dead-letters count|replay --api URL --workspace WS --destination DST   (owner token in $PHI_TOKEN)
  phictl COMMAND --help         (a command's usage and flags)
algorithms: hpke-p256 (default), hpke-xwing, rsa-oaep-sha256 (--rsa-bits ` + fieldcrypt.RSASizeList() +
	"; default " + strconv.Itoa(fieldcrypt.DefaultRSABits) + ")"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// usageError is a mistake in the command line; run answers it with exitUsage.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// run executes one phictl command line (without the program name) and returns its exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	var code int
	var err error
	switch cmd {
	case "keygen":
		err = keygen(rest, stdout)
	case "encrypt":
		err = encrypt(rest, stdin, stdout, stderr)
	case "decrypt":
		code, err = decrypt(rest, stdin, stdout, stderr)
	case "dead-letters":
		err = deadLetters(rest, stdout)
	case "inspect":
		if isHelp(rest) {
			fmt.Fprintln(stdout, inspectUsage)
			return exitOK
		}
		err = inspect(rest, stdin, stdout)
	case "audit":
		code, err = auditCmd(rest, stdin, stdout, stderr)
	case "help", "-h", "--help":
		if len(rest) == 1 && rest[0] != "help" {
			return run([]string{rest[0], "--help"}, stdin, stdout, stderr)
		}
		fmt.Fprintln(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "phictl: unknown command %q; want keygen, encrypt, decrypt, inspect, audit or dead-letters\n", clip(cmd))
		return exitUsage
	}
	var help helpRequested
	if errors.As(err, &help) {
		fmt.Fprintln(stdout, help.usage)
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "phictl %s: %s\n", cmd, oneLine(err.Error()))
		if errors.As(err, new(usageError)) {
			return exitUsage
		}
		return exitFailure
	}
	return code
}

// oneLine keeps an error message on one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// describe returns what phictl says about err: for a fieldcrypt error its kind and caller-safe
// reason ("invalid key: this is a private key …"), for a plan that does not compile
// ErrInvalidPlan and the reason, without the package and operation names their Error adds for
// logs; for any other error its Error.
func describe(err error) string {
	var fe *fieldcrypt.Error
	if errors.As(err, &fe) {
		return fmt.Sprintf("%v: %s", fe.Kind, fe.Reason)
	}
	var pe *transform.PlanError
	if errors.As(err, &pe) {
		return fmt.Sprintf("%v: %s", transform.ErrInvalidPlan, pe.Reason)
	}
	return err.Error()
}

// clip prepares caller text quoted back in a message: at most 40 bytes, cut at a character
// boundary, and never a pasted API token (phi.Clip).
func clip(s string) string { return phi.Clip(s, 40) }

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }
