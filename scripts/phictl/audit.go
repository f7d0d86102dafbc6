package main

import (
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/phiguard/phiguard/shared/audit"
)

const auditUsage = `usage: phictl audit verify [--public-key FILE] < export.ndjson

Verifies, offline, an audit export (GET /workspaces/{id}/audit/export, docs/AUDIT.md): every
record numbered without gap or repeat and carrying the hash of the one before, every checkpoint
validly signed by the audit signing key and matching its record. Prints the report as one JSON
object; exits 0 when the chain is intact and 4 when it is broken (the report names the first
record that is missing, altered or out of place).

Pass the public key you obtained yourself (aws kms get-public-key on the stack output
AuditSigningKeyARN, or the publicKey of GET …/audit/verify, saved as PEM): without it the key the
export carries is used, which shows only that the export is consistent with itself.
`

// auditCmd runs "phictl audit SUBCOMMAND".
func auditCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	if len(args) == 0 || isHelp(args) {
		if len(args) == 0 {
			return exitUsage, usagef("audit needs a subcommand: verify")
		}
		fmt.Fprint(stdout, auditUsage)
		return exitOK, nil
	}
	if args[0] != "verify" {
		return exitUsage, usagef("unknown audit subcommand %q; want verify", clip(args[0]))
	}
	fs := newFlags("audit verify", auditUsage)
	keyFile := fs.String("public-key", "", "PEM file of the audit signing key's public key (PKIX, ECDSA P-256)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return exitUsage, err
	}
	var pub *ecdsa.PublicKey
	if *keyFile != "" {
		text, err := os.ReadFile(*keyFile)
		if err != nil {
			return exitFailure, fmt.Errorf("read the public key: %w", err)
		}
		if pub, err = audit.ParsePublicKey(string(text)); err != nil {
			return exitFailure, err
		}
	}
	x, err := audit.ReadExport(stdin)
	if err != nil {
		return exitFailure, fmt.Errorf("not an audit export: %w", err)
	}
	rep, err := audit.VerifyExport(x, pub)
	if err != nil {
		return exitFailure, err
	}
	if pub == nil {
		fmt.Fprintln(stderr, "phictl audit verify: no --public-key: checked with the key the export carries, which proves only that the export is consistent with itself")
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		return exitFailure, err
	}
	if !rep.Intact {
		return exitBroken, nil
	}
	return exitOK, nil
}
