package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/phiguard/phiguard/shared/fieldcrypt"
)

// keygen writes a new key pair: the private key as PKCS#8 PEM to a new file of mode 0600, the
// public key as PEM to a new file of mode 0644. It never overwrites a file, and leaves no private
// key file behind when it fails.
const keygenUsage = `usage: phictl keygen [--alg ALG] [--rsa-bits N] [--key-id ID] --private-out FILE --public-out FILE

Makes a key pair offline, for a bring-your-own-key upload of the public key. The private key file
(mode 0600) starts with Algorithm and Fingerprint lines, and Key-ID with --key-id, before its PEM
block (docs/ENCRYPTION.md, section 2); phictl decrypt reads them. The service assigns the key id
when the public key is imported: record it with --key-id when you know it, or add a "Key-ID: …"
line later; phictl decrypt finds a key without an id by itself. Never overwrites a file.

flags:
`

func keygen(args []string, stdout io.Writer) error {
	fl := newFlags("keygen", keygenUsage)
	alg := fl.String("alg", string(fieldcrypt.DefaultAlgorithm), "algorithm: hpke-p256, hpke-xwing or rsa-oaep-sha256")
	bits := fl.Int("rsa-bits", 0, "RSA modulus size: "+fieldcrypt.RSASizeList()+" (default "+strconv.Itoa(fieldcrypt.DefaultRSABits)+")")
	keyID := fl.String("key-id", "", "the key id to record in the private key file (its Key-ID line)")
	privOut := fl.String("private-out", "", "private key file to create")
	pubOut := fl.String("public-out", "", "public key file to create")
	if err := parseFlags(fl, args); err != nil {
		return err
	}
	if *keyID != "" {
		if err := fieldcrypt.ValidateKeyID(*keyID); err != nil {
			return usagef("--key-id: %s", describe(err))
		}
	}
	switch {
	case *privOut == "" || *pubOut == "":
		return usagef("--private-out FILE and --public-out FILE are both required")
	case filepath.Clean(*privOut) == filepath.Clean(*pubOut):
		return usagef("--private-out and --public-out name the same file")
	}
	a, err := fieldcrypt.ParseAlgorithm(*alg)
	if err != nil {
		return usagef("--alg: %s", describe(err))
	}
	if a != fieldcrypt.RSAOAEPSHA256 && *bits != 0 {
		return usagef("--rsa-bits applies only to %s", fieldcrypt.RSAOAEPSHA256)
	}
	priv, err := fieldcrypt.GenerateKeyPair(a, *bits)
	if err != nil {
		return errors.New(describe(err))
	}
	pemBytes, err := fieldcrypt.KeyFilePEM(priv, *keyID)
	if err != nil {
		return errors.New(describe(err))
	}
	defer clear(pemBytes)

	pf, err := createNew(*privOut, 0o600)
	if err != nil {
		return err
	}
	uf, err := createNew(*pubOut, 0o644)
	if err != nil {
		pf.Close()
		os.Remove(*privOut)
		return err
	}
	_, werr := pf.Write(pemBytes)
	if cerr := pf.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		_, werr = uf.Write(priv.Public().PEM())
	}
	if cerr := uf.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		os.Remove(*privOut)
		os.Remove(*pubOut)
		return fmt.Errorf("write key files: %w", werr)
	}
	pub := priv.Public()
	size := ""
	if pub.Bits() > 0 {
		size = fmt.Sprintf(" (%d bits)", pub.Bits())
	}
	id := *keyID
	if id == "" {
		id = "assigned when the public key is imported (record it with a Key-ID: line; phictl decrypt also finds the key without it)"
	}
	fmt.Fprintf(stdout, "%s key pair%s\nkey id:      %s\nfingerprint: %s\nprivate key: %s (mode 0600; keep it secret; its Key-ID, Algorithm and Fingerprint lines come first)\npublic key:  %s\n",
		pub.Algorithm(), size, id, pub.Fingerprint(), *privOut, *pubOut)
	return nil
}

// createNew creates path for writing with mode perm, refusing to overwrite an existing file.
func createNew(path string, perm os.FileMode) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("%s already exists; refusing to overwrite it", path)
	}
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, unwrapPath(err))
	}
	if err := f.Chmod(perm); err != nil { // the umask may only narrow it, but be explicit
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("set mode of %s: %w", path, unwrapPath(err))
	}
	return f, nil
}

// unwrapPath drops the path from an *fs.PathError, which the caller's message already names.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// readFile reads a key file, naming it in errors.
func readFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, unwrapPath(err))
	}
	return b, nil
}
