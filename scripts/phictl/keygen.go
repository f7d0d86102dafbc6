package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/phiguard/phiguard/shared/fieldcrypt"
)

// newFlags returns a flag set whose errors come back as usage errors instead of being printed.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return usagef("%v", err)
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", clip(fs.Arg(0)))
	}
	return nil
}

// keygen writes a new key pair: the private key as PKCS#8 PEM to a new file of mode 0600, the
// public key as PEM to a new file of mode 0644. It never overwrites a file, and leaves no private
// key file behind when it fails.
func keygen(args []string, stdout io.Writer) error {
	fl := newFlags("keygen")
	alg := fl.String("alg", string(fieldcrypt.DefaultAlgorithm), "algorithm")
	bits := fl.Int("rsa-bits", 0, "RSA modulus size")
	privOut := fl.String("private-out", "", "private key file")
	pubOut := fl.String("public-out", "", "public key file")
	if err := parseFlags(fl, args); err != nil {
		return err
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
	pemBytes := priv.PEM()
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
	fmt.Fprintf(stdout, "%s key pair%s, fingerprint %s\nprivate key: %s (mode 0600; keep it secret)\npublic key:  %s\n",
		pub.Algorithm(), size, pub.Fingerprint(), *privOut, *pubOut)
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
