package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/phiguard/phiguard/shared/fieldcrypt"
)

const inspectUsage = `usage: phictl inspect TOKEN      (TOKEN "-" reads it from stdin; JSON quotes around it are removed)

Prints, as one JSON object, what a token is without any key: its version, algorithm, key id and
sizes (for version 2 tokens the padded payload length: the value has at most that many bytes less
one). It never shows a secret.`

// tokenInfo is what inspect prints: the token's shape, never a secret.
type tokenInfo struct {
	Algorithm          fieldcrypt.Algorithm `json:"algorithm"`
	KeyID              string               `json:"keyId,omitempty"`
	Version            int                  `json:"version,omitempty"`
	TokenLen           int                  `json:"tokenLength"`
	EncapsulatedKeyLen int                  `json:"encapsulatedKeyLength,omitempty"`
	CiphertextLen      int                  `json:"ciphertextLength"`
	PlaintextLen       *int                 `json:"plaintextLength,omitempty"`
	EncodedLen         int                  `json:"paddedPayloadLength,omitempty"`
	RSABits            int                  `json:"rsaBits,omitempty"`
	Note               string               `json:"note,omitempty"`
}

// inspect prints, as one JSON object, the algorithm, key id and sizes of the token given as the
// only argument ("-" reads it from stdin). It needs no key and shows no secret.
func inspect(args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) != 1 {
		return usagef("inspect takes exactly one TOKEN (or - to read it from stdin)")
	}
	tok := args[0]
	if tok == "-" {
		line, err := bufio.NewReader(io.LimitReader(stdin, 1<<20)).ReadString('\n')
		if err != nil && err != io.EOF {
			return fmt.Errorf("read stdin: %w", err)
		}
		tok = line
	}
	tok = strings.TrimSpace(tok)
	if len(tok) >= 2 && tok[0] == '"' && tok[len(tok)-1] == '"' { // copied with its JSON quotes
		var s string
		if json.Unmarshal([]byte(tok), &s) == nil {
			tok = s
		}
	}
	info, err := fieldcrypt.Inspect(tok)
	if err != nil {
		return fmt.Errorf("not a phiguard token: %s", describe(err))
	}
	out := tokenInfo{
		Algorithm: info.Algorithm, KeyID: info.KeyID, Version: info.Version, TokenLen: info.TokenLen,
		EncapsulatedKeyLen: info.EncapsulatedKeyLen, CiphertextLen: info.CiphertextLen, RSABits: info.RSABits,
		EncodedLen: info.EncodedLen,
	}
	switch {
	case info.PlaintextLen >= 0:
		out.PlaintextLen = &info.PlaintextLen
		out.Note = "version 1: the value's exact length is visible and its JSON type is not recorded"
	case info.Algorithm == fieldcrypt.RSAOAEPSHA256:
		out.Note = "RSA tokens carry no key id; the event's _phi manifest names the key"
	default:
		out.Note = "version 2: the value's JSON type is recorded inside; its length is hidden to within the padded payload length"
	}
	b, err := json.Marshal(out)
	if err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	_, err = fmt.Fprintf(stdout, "%s\n", b)
	return err
}
