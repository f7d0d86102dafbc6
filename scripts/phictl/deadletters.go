package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/phiguard/phiguard/shared/phi"
)

// EnvToken names the variable phictl reads an API token from: never a flag, which other users
// of the machine could read in the process list.
const EnvToken = "PHI_TOKEN"

const deadLettersUsage = `usage: phictl dead-letters count|replay --api URL --workspace WS --destination DST

count prints, as JSON, how many of a destination's copies are in the delivery dead-letter queue,
by reason (GET …/dead-letters). replay moves them back to the delivery queue with fresh attempts and
prints what it moved (POST …/dead-letters/replay; audited). Both need an owner token in $PHI_TOKEN.
The API URL must be https, or http on a loopback address (make dev's http://127.0.0.1:3000).`

// deadLetters runs `phictl dead-letters count|replay`.
func deadLetters(args []string, stdout io.Writer) error {
	if len(args) == 0 || isHelp(args) {
		if len(args) == 0 {
			return usagef("dead-letters takes count or replay")
		}
		return helpRequested{deadLettersUsage}
	}
	verb := args[0]
	method, suffix := "", ""
	switch verb {
	case "count":
		method, suffix = http.MethodGet, "/dead-letters"
	case "replay":
		method, suffix = http.MethodPost, "/dead-letters/replay"
	default:
		return usagef("dead-letters takes count or replay, not %q", clip(verb))
	}
	fs := newFlags("dead-letters "+verb, deadLettersUsage+"\n\nflags:\n")
	api := fs.String("api", "", "the API's base URL, e.g. https://…/v1 (the ApiURL stack output)")
	ws := fs.String("workspace", "", "the workspace id (ws_…)")
	dst := fs.String("destination", "", "the destination id (dst_…)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	switch {
	case !phi.ValidID(phi.PrefixWorkspace, *ws):
		return usagef("--workspace must be a workspace id (ws_…)")
	case !phi.ValidID(phi.PrefixDestination, *dst):
		return usagef("--destination must be a destination id (dst_…)")
	}
	base, err := apiURL(*api)
	if err != nil {
		return err
	}
	token := os.Getenv(EnvToken)
	if token == "" {
		return usagef("set %s to an owner token of the workspace", EnvToken)
	}
	u := base + "/workspaces/" + *ws + "/destinations/" + *dst + suffix
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return fmt.Errorf("build the request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("call the API: %v", errorWithoutURL(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("read the API's answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(body, &e) == nil && e.Error.Code != "" {
			return fmt.Errorf("the API answered %d %s: %s", resp.StatusCode, e.Error.Code, clip(e.Error.Message))
		}
		return fmt.Errorf("the API answered %d", resp.StatusCode)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, body, "", "  "); err != nil {
		return fmt.Errorf("the API's answer is not JSON")
	}
	out.WriteByte('\n')
	_, err = stdout.Write(out.Bytes())
	return err
}

// apiURL checks the API's base URL: https, or http to a loopback IP literal, without
// credentials, query or fragment; it returns it without a trailing slash.
func apiURL(raw string) (string, error) {
	if raw == "" {
		return "", usagef("--api is required (the ApiURL stack output, or make dev's http://127.0.0.1:3000)")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", usagef("--api must be a URL like https://api.example.com/v1, without credentials or query")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if ip := net.ParseIP(u.Hostname()); ip == nil || !ip.IsLoopback() {
			return "", usagef("--api must be https (plain http only to a loopback address, for make dev): the token would travel in clear")
		}
	default:
		return "", usagef("--api must be an https URL")
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// errorWithoutURL is err's text without the request URL that net/http puts in it.
func errorWithoutURL(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}
