// Package devserver runs the whole service on one machine, against the local AWS emulators:
// the REST API (the deployment's route table, authorizer logic and handlers, fed API Gateway
// proxy events), an SQS event-source poller per queue-triggered function (the hashing pipeline
// and the webhook delivery, with the deployment's batch size, batching window and
// partial-failure semantics), and a local webhook receiver that records what each destination
// received. `make dev` (scripts/dev) and the end-to-end demo (scripts/demo) start it; tests
// start it in-process.
package devserver

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/phiguard/phiguard/scripts/internal/devstack"
	"github.com/phiguard/phiguard/shared/awsclient"
	"github.com/phiguard/phiguard/shared/awsmetrics"
	"github.com/phiguard/phiguard/shared/dynamo"
	"github.com/phiguard/phiguard/shared/fn"
	"github.com/phiguard/phiguard/shared/httpapi"
	"github.com/phiguard/phiguard/shared/stack"
	"github.com/phiguard/phiguard/shared/webhook"
)

// Defaults of the local service.
const (
	DefaultAPIAddr      = "127.0.0.1:3000"
	DefaultReceiverAddr = "127.0.0.1:3001"
	DefaultPrefix       = "phiguard-dev"
)

// Config configures Start. Zero values take the defaults.
type Config struct {
	APIAddr      string // host:port of the REST API; DefaultAPIAddr when empty, "127.0.0.1:0" for a free port
	ReceiverAddr string // host:port of the webhook receiver; DefaultReceiverAddr when empty
	// ReceiverLimit is how many deliveries the receiver keeps, across all hooks, before it drops
	// the oldest (and counts them); DefaultReceiverLimit when 0.
	ReceiverLimit int
	Prefix        string // resource name prefix; DefaultPrefix when empty
	// OperatorSecret is the local operator credential (at least 32 characters); a random one
	// is generated when empty.
	OperatorSecret string
	// Logger receives the functions' and pollers' logs (ids and counts only); discarded when nil.
	Logger *slog.Logger
	// Env overrides environment variables the functions read (stack.Env…), for tests.
	Env map[string]string
	// ExtraWebhookTargets are local servers (loopback IP:port) that destinations may target
	// besides the receiver, such as a test's fault servers: the config API admits URLs with
	// exactly these IP literals and ports, over http or https, and the delivery function
	// reaches them. It trusts only the receiver's certificate, so plain http suits them best.
	ExtraWebhookTargets []netip.AddrPort
	// Counter, when set, counts every AWS request of the functions and the pollers (the
	// end-to-end benchmark's requests per event); provisioning is counted too, so a measurement
	// resets it first.
	Counter *awsmetrics.Counter
	// OnDelivery, when set, is the receiver's Receiver.OnDelivery.
	OnDelivery func(Delivery)
	// PipelineAWS, when set, is applied to the AWS configuration of the hashing and delivery
	// functions only (not the API's, the pollers' or provisioning's): a fault campaign attaches
	// an injector of AWS errors there (faults.AWS.Attach).
	PipelineAWS func(*aws.Config)
}

// localConcurrency is how many invocations of one function the local service runs at once: the
// deployment's event sources run up to their maximum concurrency, but here the emulators, not
// the functions, are the bottleneck, and overlapping a few invocations hides their latency.
const localConcurrency = 4

// Server is a running local service.
type Server struct {
	APIURL         string // e.g. http://127.0.0.1:3000
	ConsoleURL     string // e.g. http://127.0.0.1:3000/console/
	ReceiverURL    string // e.g. https://127.0.0.1:3001; a destination posts to ReceiverURL+"/hooks/{name}"
	OperatorSecret string
	Resources      *devstack.Resources
	Clients        *awsclient.Clients
	Receiver       *Receiver
	// ReceiverClient is an HTTP client that trusts the receiver's throwaway certificate.
	ReceiverClient *http.Client
	Ingest         *Poller // the hashing function's event source
	Delivery       *Poller // the delivery function's event source

	cancel  context.CancelFunc
	wg      sync.WaitGroup
	pollers sync.WaitGroup // the pollers, a subset of wg: the servers' clients
	servers []*http.Server
	logger  *slog.Logger
	errOnce sync.Once
	errCh   chan error
}

// Start provisions the resources on the emulators named by the AWS_ENDPOINT_URL_* variables,
// then serves the API, the receiver and the pollers until Close. It refuses to run when an
// endpoint variable is missing or not on the loopback interface — it never provisions in a
// real AWS account — and returns a one-line error when a port is in use, a function cannot be
// built or provisioning fails. On error nothing it started is left running.
func Start(ctx context.Context, cfg Config) (srv *Server, err error) {
	if err := checkEmulators(os.Getenv); err != nil {
		return nil, err
	}
	if cfg.APIAddr == "" {
		cfg.APIAddr = DefaultAPIAddr
	}
	if cfg.ReceiverAddr == "" {
		cfg.ReceiverAddr = DefaultReceiverAddr
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.OperatorSecret == "" {
		cfg.OperatorSecret = newOperatorSecret()
	} else if len(cfg.OperatorSecret) < 32 {
		return nil, fmt.Errorf("the operator credential (%s) must be at least 32 characters", httpapi.EnvLocalOperatorSecret)
	}

	// Listen first: a port in use is the likeliest failure and needs no emulator round trip.
	apiLn, err := listen("API", cfg.APIAddr, "-api-addr (or "+EnvAPIAddr+")")
	if err != nil {
		return nil, err
	}
	rcvLn, err := listen("webhook receiver", cfg.ReceiverAddr, "-receiver-addr (or "+EnvReceiverAddr+")")
	if err != nil {
		apiLn.Close()
		return nil, err
	}
	defer func() {
		if err != nil {
			apiLn.Close()
			rcvLn.Close()
		}
	}()
	targets, err := webhookTargets(rcvLn.Addr(), cfg.ExtraWebhookTargets)
	if err != nil {
		return nil, err
	}

	clients, err := awsclient.Load(ctx)
	if err != nil {
		return nil, err
	}
	if cfg.Counter != nil {
		counted := clients.Config.Copy()
		cfg.Counter.Attach(&counted)
		clients = awsclient.New(counted)
	}
	res, err := devstack.Provision(ctx, clients, cfg.Prefix)
	if err != nil {
		return nil, fmt.Errorf("provision the local resources (are the emulators running? use `make dev`): %w", err)
	}

	cert, pool, err := selfSigned()
	if err != nil {
		return nil, err
	}
	trustReceiver := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	// Each transport gets its own copy: an HTTP/2-capable transport adds "h2" to the config's
	// NextProtos, which an HTTP/1-only transport sharing it could not speak.
	rcvClient := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: trustReceiver.Clone()}}

	env := res.Env()
	env[stack.EnvLocalWebhookTargets] = targets
	env[httpapi.EnvLocalOperatorSecret] = cfg.OperatorSecret
	env[stack.EnvConsoleLocalHTTP] = "true" // the console on http://127.0.0.1:…/console/
	for k, v := range cfg.Env {
		env[k] = v
	}
	getenv := func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		return os.Getenv(k)
	}

	store := dynamo.New(clients.DynamoDB, res.Table)
	apiEnv := &fn.Env{
		Getenv: getenv, AWS: &clients.Config, Logger: cfg.Logger,
		Auth:      httpapi.InProcess{Tokens: store, OperatorSecret: cfg.OperatorSecret},
		TLSConfig: trustReceiver,
	}
	pipelineEnv := apiEnv
	if cfg.PipelineAWS != nil {
		pipelineAWS := clients.Config.Copy()
		cfg.PipelineAWS(&pipelineAWS)
		e := *apiEnv
		e.AWS = &pipelineAWS
		pipelineEnv = &e
	}
	fns, err := buildFunctions(ctx, apiEnv, pipelineEnv)
	if err != nil {
		return nil, err
	}
	api, err := httpapi.Combine(fns.API)
	if err != nil {
		return nil, fmt.Errorf("combine the API functions: %w", err)
	}

	rcv := &Receiver{DestinationHeader: webhook.HeaderDestination, IDHeader: webhook.HeaderID, BatchHeader: webhook.HeaderBatch,
		OnDelivery: cfg.OnDelivery, Limit: cfg.ReceiverLimit,
		Verify: verifier(webhook.NewKeyring(store, kms.NewFromConfig(clients.Config), nil))}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &Server{
		APIURL:         "http://" + apiLn.Addr().String(),
		ConsoleURL:     "http://" + apiLn.Addr().String() + stack.ConsolePath + "/",
		ReceiverURL:    "https://" + rcvLn.Addr().String(),
		OperatorSecret: cfg.OperatorSecret,
		Resources:      res,
		Clients:        clients,
		Receiver:       rcv,
		ReceiverClient: rcvClient,
		cancel:         cancel,
		logger:         cfg.Logger,
		errCh:          make(chan error, 1),
	}
	s.Ingest = &Poller{
		Name: stack.FunctionHashing, Client: clients.SQS, QueueURL: res.IngestQueueURL,
		BatchSize: stack.IngestBatchSize, Window: stack.IngestBatchWindowSecond * time.Second,
		Handler: fns.Hashing, Region: clients.Config.Region, Logger: cfg.Logger,
		Concurrency: min(stack.HashingMaxConcurrency, localConcurrency),
	}
	s.Delivery = &Poller{
		Name: stack.FunctionDelivery, Client: clients.SQS, QueueURL: res.DestinationQueueURL,
		BatchSize: stack.DeliveryBatchSize, Window: 0,
		Handler: fns.Delivery, Region: clients.Config.Region, Logger: cfg.Logger,
		Concurrency: min(stack.DeliveryMaxConcurrency, localConcurrency),
	}

	errLog := slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn)
	apiSrv := &http.Server{Handler: Gateway{Invoke: httpapi.Lambda(api)}, ReadHeaderTimeout: 10 * time.Second, ErrorLog: errLog}
	rcvSrv := &http.Server{Handler: rcv, ReadHeaderTimeout: 10 * time.Second, ErrorLog: errLog,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}
	s.servers = []*http.Server{apiSrv, rcvSrv}
	s.goServe("API", func() error { return apiSrv.Serve(apiLn) })
	s.goServe("webhook receiver", func() error { return rcvSrv.ServeTLS(rcvLn, "", "") })
	for _, p := range []*Poller{s.Ingest, s.Delivery} {
		s.pollers.Add(1)
		s.goServe(p.Name+" poller", func() error {
			defer s.pollers.Done()
			return p.Run(runCtx)
		})
	}
	return s, nil
}

// goServe runs fn; the first unexpected error is reported by Done.
func (s *Server) goServe(name string, fn func() error) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := fn(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.errOnce.Do(func() { s.errCh <- fmt.Errorf("%s stopped: %w", name, err) })
		}
	}()
}

// Failed returns a channel that receives the first error of a part that stopped unexpectedly.
func (s *Server) Failed() <-chan error { return s.errCh }

// Close stops the API, the receiver and the pollers and waits for them. A poller in the middle
// of a batch finishes deleting what succeeded. The emulators' resources are left as they are
// (the emulator runner discards them).
func (s *Server) Close() error {
	s.cancel()
	// The pollers are the receiver's clients (the delivery function posts to it): once they
	// have stopped, no delivery is in flight and the servers can drain.
	s.pollers.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var errs []error
	for _, hs := range s.servers {
		err := hs.Shutdown(ctx)
		if errors.Is(err, context.DeadlineExceeded) {
			// A client that keeps a request open (or a connection the server still counts as
			// active) must not keep the local service from stopping: cut it off.
			s.logger.Warn("a local server did not drain in time; closing its connections", "addr", hs.Addr)
			err = hs.Close()
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	s.wg.Wait()
	return errors.Join(errs...)
}

// HookURL returns the https URL a destination named name posts to on the receiver.
func (s *Server) HookURL(name string) string { return s.ReceiverURL + "/hooks/" + url.PathEscape(name) }

// webhookTargets returns the value of stack.EnvLocalWebhookTargets for the local service: the
// receiver's address, then extra, and nothing else local. It fails when the receiver does not
// listen on a loopback address (the policy admits no other local target, and the receiver
// gets PHI copies) or an extra target is not a loopback IP:port.
func webhookTargets(receiver net.Addr, extra []netip.AddrPort) (string, error) {
	tcp, ok := receiver.(*net.TCPAddr)
	if !ok {
		return "", fmt.Errorf("the webhook receiver listens on %s, not a TCP address", receiver)
	}
	rcv := tcp.AddrPort()
	rcv = netip.AddrPortFrom(rcv.Addr().Unmap(), rcv.Port())
	if !rcv.Addr().IsLoopback() {
		return "", fmt.Errorf("the webhook receiver listens on %s, which is not a loopback address; choose one such as %s with -receiver-addr (or %s)",
			rcv, DefaultReceiverAddr, EnvReceiverAddr)
	}
	list := []string{rcv.String()}
	for _, t := range extra {
		list = append(list, t.String())
	}
	v := strings.Join(list, ",")
	if _, err := webhook.PolicyFromEnv(v); err != nil {
		return "", fmt.Errorf("extra webhook targets: %w", err)
	}
	return v, nil
}

// listen opens addr, turning "address already in use" into an actionable one-line error.
func listen(what, addr, flagName string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("the %s address %s is already in use (another `make dev`?); stop that process or choose another port with %s", what, addr, flagName)
	}
	if err != nil {
		return nil, fmt.Errorf("listen on %s for the %s: %w", addr, what, err)
	}
	return ln, nil
}

// newOperatorSecret returns a random local credential of 43 characters.
func newOperatorSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error
	return "phio_" + base64.RawURLEncoding.EncodeToString(b[:])
}

// checkEmulators returns an error unless every endpoint variable names a loopback address, so
// the local service can never create resources in, or send PHI to, a real AWS account.
func checkEmulators(getenv func(string) string) error {
	for _, name := range stack.EndpointVars {
		v := getenv(name)
		u, err := url.Parse(v)
		if v == "" || err != nil {
			return fmt.Errorf("%s is not set: the local service runs only against the emulators; start it with `make dev` (or .tools/bin/emulators -- …)", name)
		}
		host := u.Hostname()
		ip := net.ParseIP(host)
		if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return fmt.Errorf("%s=%s is not a loopback address: the local service refuses to run against anything but the local emulators", name, v)
		}
	}
	return nil
}
