package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The Python side of decryption: the phiguard_decrypt package (scripts/python) against the test
// vectors and against tokens this Go code makes, and the recipes of docs/DECRYPTING.md, run as
// written. They need a Python with the pinned packages of requirements.txt (cryptography with
// ML-KEM, pandas, duckdb): make bootstrap installs them into .venv. Like the OpenSSL and
// documented-Python tests, a machine without them fails rather than skips. PHIGUARD_PYTHON
// names another interpreter.

const pythonDir = "../python"

// pythonWith returns an interpreter that imports every module.
func pythonWith(t *testing.T, modules ...string) string {
	t.Helper()
	var candidates []string
	if p := os.Getenv("PHIGUARD_PYTHON"); p != "" {
		candidates = append(candidates, p)
	}
	candidates = append(candidates, "../../.venv/bin/python")
	if p, err := exec.LookPath("python3"); err == nil {
		candidates = append(candidates, p)
	}
	imports := "import " + strings.Join(modules, ", ")
	for _, p := range candidates {
		if exec.Command(p, "-c", imports).Run() == nil {
			abs, err := filepath.Abs(p)
			if err != nil {
				t.Fatal(err)
			}
			return abs
		}
	}
	t.Fatalf("no Python with %s found (tried %s); run make bootstrap, which installs requirements.txt into .venv", strings.Join(modules, ", "), strings.Join(candidates, ", "))
	return ""
}

func runPython(t *testing.T, py, dir string, env []string, args ...string) string {
	t.Helper()
	pkg, err := filepath.Abs(pythonDir)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "PYTHONPATH="+pkg, "PYTHONDONTWRITEBYTECODE=1"), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("python %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// typedEvents are plain events with values of every JSON type, for the Go-made tokens.
var typedEvents = []string{
	`{"messageId":"m-1","userId":"u-1","traits":{"email":"alice@example.com","age":42,"score":42.50,"member":true,"address":{"street":"1 Main St","zip":"02139"},"tags":["E11.9",250],"name":"José Müller 🙂"}}`,
	`{"messageId":"m-2","userId":"u-2","traits":{"email":"bob@example.com","age":7,"score":-1e3,"member":false,"address":{"zip":"10001"},"tags":[],"name":"Bob \"B\" <b>"}}`,
}

var typedFields = []string{"traits.email", "traits.age", "traits.score", "traits.member", "traits.address", "traits.tags", "traits.name"}

// TestPythonPackage runs scripts/python/tests: every vector, and events and tokens that phictl
// encrypt (the pipeline's transform and fieldcrypt) made for each algorithm.
func TestPythonPackage(t *testing.T) {
	py := pythonWith(t, "cryptography.hazmat.primitives.asymmetric.mlkem")
	dir := t.TempDir()
	type goCase struct {
		Algorithm string      `json:"algorithm"`
		KeyFile   string      `json:"key_file"`
		Protected []string    `json:"protected"`
		Plain     []string    `json:"plain"`
		Tokens    [][2]string `json:"tokens"` // token, the exact JSON text it decrypts to
	}
	var cases []goCase
	for _, c := range []struct {
		name string
		args []string
	}{
		{"hpke-p256", nil},
		{"hpke-xwing", []string{"--alg", "hpke-xwing"}},
		{"rsa-oaep-sha256", []string{"--alg", "rsa-oaep-sha256", "--rsa-bits", "2048"}},
	} {
		keys := filepath.Join(dir, c.name)
		os.Mkdir(keys, 0o700)
		_, pub := keyFiles(t, keys, "k", c.args...) // no Key-ID line: found by trying
		fields := typedFields
		if c.name == "rsa-oaep-sha256" {
			fields = []string{"traits.email", "traits.name"} // RSA tokens do not record the type
		}
		args := []string{"encrypt", "--public-key", pub, "--key-id", "key_" + c.name}
		for _, f := range fields {
			args = append(args, "--field", f)
		}
		enc := phictl(t, strings.Join(typedEvents, "\n"), args...).ok(t)
		gc := goCase{Algorithm: c.name, KeyFile: keys, Plain: typedEvents, Protected: strings.Split(strings.TrimSpace(enc.stdout), "\n")}
		for i, line := range gc.Protected {
			var prot, plain struct{ Traits map[string]json.RawMessage }
			json.Unmarshal([]byte(line), &prot)
			json.Unmarshal([]byte(typedEvents[i]), &plain)
			for _, f := range fields {
				k := strings.TrimPrefix(f, "traits.")
				var tok string
				if err := json.Unmarshal(prot.Traits[k], &tok); err != nil {
					t.Fatalf("%s: %s is not a token", c.name, f)
				}
				gc.Tokens = append(gc.Tokens, [2]string{tok, string(compactJSON(string(plain.Traits[k])))})
			}
		}
		cases = append(cases, gc)
	}
	data, _ := json.Marshal(cases)
	tokens := filepath.Join(dir, "go-tokens.json")
	if err := os.WriteFile(tokens, data, 0o600); err != nil {
		t.Fatal(err)
	}
	tests, _ := filepath.Abs(filepath.Join(pythonDir, "tests"))
	out := runPython(t, py, dir, []string{"PHIGUARD_GO_TOKENS=" + tokens}, "-m", "unittest", "discover", "-v", "-s", tests)
	if !strings.Contains(out, "test_go_tokens") || strings.Contains(out, "skipped") || !strings.Contains(out, "\nOK") {
		t.Fatalf("the Python tests did not all run:\n%s", out)
	}
}

// TestPythonPackageIsPackagedWithOneDependency: pyproject.toml declares the package and
// cryptography as its only dependency.
func TestPythonPackageIsPackagedWithOneDependency(t *testing.T) {
	py := pythonWith(t, "tomllib")
	out := runPython(t, py, pythonDir, nil, "-c", `
import tomllib, json
p = tomllib.load(open("pyproject.toml", "rb"))["project"]
print(json.dumps([p["name"], [d.split(">")[0].split("=")[0].strip() for d in p["dependencies"]]]))`)
	if strings.TrimSpace(out) != `["phiguard-decrypt", ["cryptography"]]` {
		t.Fatalf("pyproject.toml: %s", out)
	}
}

// TestDecryptingRecipes runs the recipes of docs/DECRYPTING.md marked "# recipe: NAME" as written,
// in a directory holding keys/, events.ndjson and export.csv that the Go code made, then checks
// what each recipe computed.
func TestDecryptingRecipes(t *testing.T) {
	md, err := os.ReadFile("../../docs/DECRYPTING.md")
	if err != nil {
		t.Fatal(err)
	}
	recipes := map[string]string{}
	for _, b := range markdownBlocks(string(md), "python") {
		if name, ok := strings.CutPrefix(b, "# recipe: "); ok {
			name, _, _ = strings.Cut(name, "\n")
			recipes[strings.TrimSpace(name)] = b
		}
	}
	for _, want := range []string{"pandas", "duckdb", "bigquery"} {
		if recipes[want] == "" {
			t.Fatalf("docs/DECRYPTING.md lost its %s recipe", want)
		}
	}
	py := pythonWith(t, "cryptography", "pandas", "duckdb")

	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	os.Mkdir(keys, 0o700)
	_, pub := keyFiles(t, keys, "p256", "--key-id", "key_p256")
	var plain strings.Builder
	type row struct {
		ID, Email, Birthday string
		Age                 int
	}
	var rows []row
	for i := range 5 {
		r := row{fmt.Sprintf("m-%d", i+1), fmt.Sprintf("patient%d@example.org", i+1), fmt.Sprintf("1970-01-0%d", i+1), 30 + i}
		rows = append(rows, r)
		fmt.Fprintf(&plain, `{"messageId":%q,"type":"identify","traits":{"email":%q,"birthday":%q,"age":%d,"plan":"gold"}}`+"\n", r.ID, r.Email, r.Birthday, r.Age)
	}
	enc := phictl(t, plain.String(), "encrypt", "--public-key", pub, "--key-id", "key_p256",
		"--field", "traits.email", "--field", "traits.birthday", "--field", "traits.age").ok(t)
	os.WriteFile(filepath.Join(dir, "events.ndjson"), []byte(enc.stdout), 0o600)
	var csv strings.Builder
	csv.WriteString("message_id,email,age\n")
	for _, line := range strings.Split(strings.TrimSpace(enc.stdout), "\n") {
		var ev struct {
			MessageID string `json:"messageId"`
			Traits    struct{ Email, Age string }
		}
		json.Unmarshal([]byte(line), &ev)
		csv.WriteString(ev.MessageID + "," + ev.Traits.Email + "," + ev.Traits.Age + "\n")
	}
	os.WriteFile(filepath.Join(dir, "export.csv"), []byte(csv.String()), 0o600)
	want, _ := json.Marshal(rows)
	blocks, _ := json.Marshal(recipes)
	os.WriteFile(filepath.Join(dir, "recipes.json"), blocks, 0o600)
	os.WriteFile(filepath.Join(dir, "want.json"), want, 0o600)
	out := runPython(t, py, dir, nil, "-c", recipeDriver)
	if strings.TrimSpace(out) != "recipes ok: bigquery duckdb pandas" {
		t.Fatalf("driver says %s", out)
	}
}

// recipeDriver runs each recipe in a fresh namespace and checks its results.
const recipeDriver = `
import json
recipes = json.load(open("recipes.json"))
want = json.load(open("want.json"))
emails = [r["Email"] for r in want]
ages = [r["Age"] for r in want]
ids = [r["ID"] for r in want]

ns = {}
exec(recipes["pandas"], ns)
assert ns["events"]["traits.email"].tolist() == emails, ns["events"]["traits.email"].tolist()
assert ns["events"]["traits.birthday"].tolist() == [r["Birthday"] for r in want]
assert ns["events"]["traits.age"].tolist() == ages
assert ns["events"]["traits.plan"].tolist() == ["gold"] * len(want)
assert ns["export"]["email"].tolist() == emails
assert ns["export"]["age"].tolist() == ages

ns = {}
exec(recipes["duckdb"], ns)
assert ns["rows"] == [(i, e, a) for i, e, a in zip(ids, emails, ages)], ns["rows"]
assert ns["csv_rows"] == [(i, e) for i, e in zip(ids, emails)], ns["csv_rows"]

ns = {}
exec(recipes["bigquery"], ns)
from phiguard_decrypt import Keyring
ring = Keyring.from_paths("keys/")
tokens = [json.loads(l)["traits"]["email"] for l in open("events.ndjson")]
reply, status = ns["bigquery_replies"](ring, {"calls": [[t] for t in tokens] + [[None]]})
assert status == 200 and reply == {"replies": emails + [None]}, reply
bad = tokens[0][:-2] + ("A" if tokens[0][-2] != "A" else "B") + tokens[0][-1]
reply, status = ns["bigquery_replies"](ring, {"calls": [[bad]]})
assert status == 400 and "errorMessage" in reply and emails[0] not in reply["errorMessage"], reply
print("recipes ok: " + " ".join(sorted(recipes)))
`

// markdownBlocks returns the ` + "```lang" + ` blocks of a Markdown text, in order.
func markdownBlocks(md, lang string) []string {
	var blocks []string
	fence := "```" + lang + "\n"
	for {
		i := strings.Index(md, fence)
		if i < 0 {
			return blocks
		}
		md = md[i+len(fence):]
		j := strings.Index(md, "```")
		if j < 0 {
			return blocks
		}
		blocks = append(blocks, md[:j])
		md = md[j+3:]
	}
}
