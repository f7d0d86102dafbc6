// Package browsertest drives the web console (shared/console) in a real browser — headless
// Chromium through the DevTools protocol (github.com/chromedp/chromedp) — against the whole
// local service on the emulators (scripts/internal/devserver): sign-in, the Privacy Portal,
// adding a destination with hashing, the private key shown once, Save, events through the real
// pipeline to the local receiver, decryption with the downloaded key, key rotation, and the
// refusals. Every page is checked with axe-core (node_modules/axe-core, pinned in
// package.json) and photographed into build/console/. Its tests are the whole package; this
// file holds what they share.
package browsertest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// Chromium returns the path of the Chromium (or Chrome) binary: $PHI_CHROMIUM, else the first
// of chromium, chromium-browser, google-chrome on $PATH; an error naming the Debian package
// when there is none.
func Chromium() (string, error) {
	if p := os.Getenv("PHI_CHROMIUM"); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no Chromium found: install the Debian package chromium (`make bootstrap` does it as root), or set PHI_CHROMIUM")
}

// RepoRoot returns the repository's root directory (where go.mod is).
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..", ".."))
}

// AxeSource returns axe-core's browser bundle from node_modules (installed by make bootstrap
// with npm ci from package-lock.json).
func AxeSource() (string, error) {
	b, err := os.ReadFile(filepath.Join(RepoRoot(), "node_modules", "axe-core", "axe.min.js"))
	if err != nil {
		return "", fmt.Errorf("axe-core is not installed (run make bootstrap, which runs npm ci): %w", err)
	}
	return string(b), nil
}

// axeRun is the script that runs axe on the page and returns its serious and critical
// violations, one line each.
const axeRun = `axe.run(document, {resultTypes: ["violations"]}).then(function (r) {
  return r.violations.filter(function (v) { return v.impact === "serious" || v.impact === "critical"; })
    .map(function (v) { return v.impact + " " + v.id + ": " + v.help + " — " + v.nodes.slice(0, 3).map(function (n) { return n.target.join(" "); }).join(", "); });
})`

// AxeScript is what a test evaluates on each page: axe-core's source, then axeRun.
func AxeScript(src string) string { return src + ";\n" + axeRun }

// Contains reports whether haystack holds any line-broken fragment of secret long enough to
// identify it (its first 40 characters of base64 body).
func Contains(haystack, secretPEM string) bool {
	parts := strings.Split(secretPEM, "-----")
	if len(parts) < 3 {
		return false
	}
	body := strings.TrimSpace(parts[2])
	first := strings.SplitN(body, "\n", 2)[0]
	if len(first) > 40 {
		first = first[:40]
	}
	return first != "" && strings.Contains(haystack, first)
}
