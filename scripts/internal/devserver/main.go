package devserver

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/phiguard/phiguard/shared/httpapi"
	"github.com/phiguard/phiguard/shared/jsonlog"
	"github.com/phiguard/phiguard/shared/stack"
)

// Environment variables that configure `make dev` (flags win over them).
const (
	EnvAPIAddr      = "PHI_DEV_API_ADDR"
	EnvReceiverAddr = "PHI_DEV_RECEIVER_ADDR"
)

// Main is `make dev`: it parses args, starts the local service, prints the endpoints, the
// operator credential, a sample HIPAA-eligible workspace and three commands to try on stdout,
// logs to stderr, and serves until ctx is cancelled (Ctrl-C). It returns a one-line error when
// a flag is wrong, a port is in use or the service cannot start, and an error when a part of
// the service stops unexpectedly.
func Main(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	apiAddr := fs.String("api-addr", orDefault(getenv(EnvAPIAddr), DefaultAPIAddr), "host:port of the REST API (env "+EnvAPIAddr+")")
	rcvAddr := fs.String("receiver-addr", orDefault(getenv(EnvReceiverAddr), DefaultReceiverAddr), "host:port of the local webhook receiver (env "+EnvReceiverAddr+")")
	prefix := fs.String("prefix", DefaultPrefix, "name prefix of the provisioned table, queues, topic")
	logLevel := fs.String("log-level", orDefault(getenv(stack.EnvLogLevel), "info"), "debug, info, warn or error (env "+stack.EnvLogLevel+")")
	sample := fs.Bool("sample", true, "create a sample HIPAA-eligible workspace and print its owner token")
	rcvLimit := fs.Int("receiver-limit", DefaultReceiverLimit, "deliveries the local webhook receiver keeps, across all hooks; beyond it the oldest are dropped (and counted in /received's \"dropped\")")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *rcvLimit < 1 {
		return fmt.Errorf("-receiver-limit must be at least 1, not %d", *rcvLimit)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q; see -h", fs.Arg(0))
	}
	logger, err := jsonlog.New(stderr, *logLevel)
	if err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	s, err := Start(ctx, Config{
		APIAddr: *apiAddr, ReceiverAddr: *rcvAddr, ReceiverLimit: *rcvLimit, Prefix: *prefix,
		OperatorSecret: getenv(httpapi.EnvLocalOperatorSecret), Logger: logger,
	})
	if err != nil {
		return err
	}
	defer s.Close()

	var ws *SampleWorkspace
	if *sample {
		if ws, err = s.CreateSampleWorkspace(ctx); err != nil {
			return err
		}
		if ws.AWS, err = s.CreateSampleAWS(ctx, orDefault(*prefix, DefaultPrefix)); err != nil {
			return err
		}
	}
	PrintBanner(stdout, s, ws)
	select {
	case <-ctx.Done():
		fmt.Fprintln(stdout, "\nstopping the local service…")
		return nil
	case err := <-s.Failed():
		return err
	}
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// SampleWorkspace is the workspace `make dev` creates so that the printed commands work at once.
type SampleWorkspace struct {
	ID         string
	Name       string
	OwnerToken string
	// AWS are the sample customer resources in moto for the AWS destination types (make dev
	// creates them; nil elsewhere).
	AWS *SampleAWS
}

// CreateSampleWorkspace creates a business-tier workspace with a signed BAA through the operator
// API (so it is audited like any other) and returns it with its owner token. It fails when the
// API refuses.
func (s *Server) CreateSampleWorkspace(ctx context.Context) (*SampleWorkspace, error) {
	body := `{"name":"Sample Clinic","tier":"business","baa":{"signed":true,"signedBy":"Local Developer"},"ownerTokenName":"local owner"}`
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.APIURL+"/operator/workspaces", strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+s.OperatorSecret)
	req.Header.Set("Content-Type", "application/json")
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("create the sample workspace: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusCreated {
		return nil, fmt.Errorf("create the sample workspace: %s: %s", resp.Status, bytes.TrimSpace(b))
	}
	var out struct {
		ID         string `json:"id"`
		Name       string `json:"name"`
		OwnerToken struct {
			Secret string `json:"secret"`
		} `json:"ownerToken"`
	}
	if err := json.Unmarshal(b, &out); err != nil || out.ID == "" || out.OwnerToken.Secret == "" {
		return nil, fmt.Errorf("create the sample workspace: unexpected response")
	}
	return &SampleWorkspace{ID: out.ID, Name: out.Name, OwnerToken: out.OwnerToken.Secret}, nil
}

// PrintBanner writes what `make dev` shows on start: endpoints, credentials, commands to try.
func PrintBanner(w io.Writer, s *Server, ws *SampleWorkspace) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p("phiguard is running locally (emulators: moto + local-kms; nothing leaves this machine)")
	p("")
	p("  web console       %s   (sign in with a workspace token)", s.ConsoleURL)
	p("  REST API          %s   (every route of shared/stack.Routes; docs/openapi.json)", s.APIURL)
	p("  webhook receiver  %s   (a destination posts to %s/hooks/<name>; self-signed TLS)", s.ReceiverURL, s.ReceiverURL)
	p("                    (destinations may use this local address and public https hosts, nothing else)")
	p("  ingest queue      %s", s.Resources.IngestQueueURL)
	p("                    (send events with message attributes %q and %q; docs/PRODUCERS.md)", stack.AttrWorkspace, stack.AttrSource)
	p("  table             %s", s.Resources.Table)
	p("")
	p("  operator credential  %s", s.OperatorSecret)
	if ws != nil {
		p("  sample workspace     %s  %q (business tier, BAA signed: HIPAA eligible)", ws.ID, ws.Name)
		p("  its owner token      %s", ws.OwnerToken)
	}
	if ws != nil && ws.AWS != nil {
		a := ws.AWS
		p("")
		p("  AWS destinations in moto (its account 123456789012 stands for yours; Destinations › Add destination, or POST …/destinations):")
		p("    role           %s   (moto assumes it; GET …/access-policy shows the policies to paste)", a.RoleARN)
		p("    s3             bucket %s, region us-east-1", a.Bucket)
		p("    firehose       %s   (into the bucket under firehose/)", a.StreamARN)
		p("    eventbridge    %s   (a rule forwards to %s)", a.BusARN, a.BusQueueURL)
		p("    sqs            %s", a.QueueARN)
	}
	p("")
	p("Try:")
	if ws != nil {
		p("  curl -s %s/workspaces/%s -H 'Authorization: Bearer %s'", s.APIURL, ws.ID, ws.OwnerToken)
		p("  curl -s %s/workspaces/%s/privacy/matchers -H 'Authorization: Bearer %s'", s.APIURL, ws.ID, ws.OwnerToken)
	}
	p("  curl -s -X POST %s/operator/workspaces -H 'Authorization: Bearer %s' \\", s.APIURL, s.OperatorSecret)
	p("       -H 'Content-Type: application/json' -d '{\"name\":\"Acme Health\",\"tier\":\"business\",\"baa\":{\"signed\":true,\"signedBy\":\"Dana Scully\"}}'")
	p("  curl -sk %s/received        # what every webhook destination received", s.ReceiverURL)
	if ws != nil && ws.AWS != nil {
		p("  curl -s -X POST %s/workspaces/%s/destinations -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' \\", s.APIURL, ws.ID, ws.OwnerToken)
		p("       -d '{\"sourceId\":\"<src_…>\",\"name\":\"queue\",\"type\":\"sqs\",\"settings\":{\"roleArn\":\"%s\",\"queueArn\":\"%s\"}}'", ws.AWS.RoleARN, ws.AWS.QueueARN)
		p("  curl -s -X POST %s/workspaces/%s/destinations/<dst_…>/test -H 'Authorization: Bearer %s'   # Test destination", s.APIURL, ws.ID, ws.OwnerToken)
	}
	p("")
	p("The whole workflow: `make demo`. Ctrl-C stops everything.")
}
