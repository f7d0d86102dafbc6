package fieldcrypt

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The Python code in docs/ENCRYPTION.md (section 4.1 for RSA, section 4.3 for HPKE, written from
// the primitives) is part of the public contract: this test extracts it from the document as
// written and runs it, unchanged, against every vector in testdata/fieldcrypt. Every valid vector
// must decrypt to its plaintext and every invalid one must raise.

const docPath = "../../docs/ENCRYPTION.md"

// python returns an interpreter with the cryptography package (with ML-KEM): the project's
// virtual environment (make bootstrap installs it from requirements.txt), else python3 on PATH.
// Like the openssl tests, a machine without it fails rather than skips.
func python(t *testing.T) string {
	t.Helper()
	candidates := []string{"../../.venv/bin/python"}
	if p, err := exec.LookPath("python3"); err == nil {
		candidates = append(candidates, p)
	}
	for _, p := range candidates {
		if exec.Command(p, "-c", "from cryptography.hazmat.primitives.asymmetric import mlkem").Run() == nil {
			return p
		}
	}
	t.Fatal("no Python with the cryptography package (ML-KEM support) found; run make bootstrap")
	return ""
}

// docDriver runs the documented snippets against the vector files. RSA: the section 4.1 snippet
// is executed as written, with private.pem in the working directory and token set. HPKE: the
// section 4.3 functions are called: every vector must give its version's type and its value, and
// to_json its exact JSON value.
const docDriver = `
import json, os, sys
rsa_snippet = open("rsa_snippet.py").read()
checked = 0
def rsa_raw(key, token):
    with open("private.pem", "w") as f:
        f.write(key["private_key_pem"])
    ns = {"token": token}
    exec(rsa_snippet, ns)
    return ns["value"]
def hpke_raw(key, token):
    return open_hpke(key["private_key_pem"].encode(), token)
def rsa_open(key, token, v):
    return rsa_raw(key, token) == v["plaintext"]
def hpke_open(key, token, v):
    kind, value = hpke_raw(key, token)
    if value != v["plaintext"].encode() or kind != ({1: None, 2: v.get("type")}[v["version"]]):
        return False
    if v["version"] == 2:
        js = to_json(kind, value)
        return js == v["json"] if kind != "string" else json.loads(js) == json.loads(v["json"])
    return True
for name in ("rsa-oaep-sha256", "hpke-p256", "hpke-xwing"):
    f = json.load(open(os.path.join(sys.argv[1], name + ".json")))
    keys = {k["name"]: k for k in f["keys"]}
    op, raw = (rsa_open, rsa_raw) if name == "rsa-oaep-sha256" else (hpke_open, hpke_raw)
    for i, v in enumerate(f["vectors"]):
        if not op(keys[v["key"]], v["token"], v):
            sys.exit("%s vector %d: the documented code does not decrypt it to its type and value" % (name, i))
        checked += 1
    for i, v in enumerate(f["invalid"]):
        try:
            raw(keys[v["key"]], v["token"])
        except Exception:
            checked += 1
            continue
        sys.exit("%s invalid vector %d (%s) decrypts with the documented code" % (name, i, v["reason"]))
print("checked", checked)
`

func TestTheDocumentsPythonDecryptsEveryVector(t *testing.T) {
	md, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	var rsaSnippet, hpkeCode string
	for _, b := range codeBlocks(string(md), "python") {
		switch {
		case strings.Contains(b, "def open_hpke(") && strings.Contains(b, "def to_json("):
			hpkeCode = b
		case strings.Contains(b, "padding.OAEP"):
			rsaSnippet = b
		}
	}
	if rsaSnippet == "" || hpkeCode == "" {
		t.Fatalf("docs/ENCRYPTION.md lost its Python RSA snippet or HPKE functions (found %d python blocks)", len(codeBlocks(string(md), "python")))
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rsa_snippet.py"), []byte(rsaSnippet), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "check.py"), []byte(hpkeCode+docDriver), 0o600); err != nil {
		t.Fatal(err)
	}
	vectors, err := filepath.Abs(vectorDir)
	if err != nil {
		t.Fatal(err)
	}
	py, err := filepath.Abs(python(t))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, "check.py", vectors)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("the documented Python code fails: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	if !strings.HasPrefix(stdout.String(), "checked ") || strings.TrimSpace(stdout.String()) == "checked 0" {
		t.Fatalf("the documented Python code checked nothing: %q", stdout.String())
	}
	t.Log(strings.TrimSpace(stdout.String()), "vectors")
}
