// Command emulators runs the local AWS emulators that the tests and the local product use:
// moto in server mode (DynamoDB, SQS, SNS, Secrets Manager, and for the AWS destination types STS, S3,
// Firehose and EventBridge) and local-kms (KMS), each on a free
// loopback port. moto runs through scripts/emulators/moto_server.py, which patches how moto's SQS
// computes queue attributes so that a queue of many messages stays fast (see that file).
//
//	emulators [flags] -- command [args...]
//
// -bind-host makes moto listen on another address, for sam local's containers on Linux, which
// reach the host through the Docker bridge, not its loopback; it warns, since anything that
// reaches that address can use the emulators. local-kms has no bind option: it always listens on
// every interface.
//
// It starts both, waits until each answers a real API call made through the AWS SDK, runs
// the command with the SDK's endpoint variables (AWS_ENDPOINT_URL_*), dummy credentials and a
// region in its environment, and stops everything when the command exits. Without a command
// it prints the environment as shell exports and serves until interrupted.
//
// Nothing outlives it: the emulators and the command are stopped on exit, on SIGINT/SIGTERM,
// and — through the kernel's parent-death signal — even when this process is killed outright
// or when whoever started it (make) dies.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/phiguard/phiguard/shared/awsclient"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code, err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "emulators:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// Region and credentials the emulators accept; they are not secrets.
const (
	region    = "us-east-1"
	accountID = "111122223333"
)

func run(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("emulators", flag.ContinueOnError)
	fs.SetOutput(stderr)
	moto := fs.String("moto", ".venv/bin/moto_server", "moto server executable (installed by make bootstrap)")
	motoPatched := fs.String("moto-patched", "scripts/emulators/moto_server.py", "moto's server with the project's SQS performance patches, run with the Python beside -moto "+
		"(empty, or a file that does not exist: plain -moto)")
	localKMS := fs.String("local-kms", ".tools/bin/local-kms", "local-kms executable (built by make bootstrap)")
	envFile := fs.String("env-file", "", "also write the environment as shell exports to this file")
	logDir := fs.String("log-dir", ".emulators", "directory for the emulators' logs and KMS data")
	motoPortFlag := fs.Int("moto-port", 0, "moto's port (0: a free port)")
	kmsPortFlag := fs.Int("kms-port", 0, "local-kms's port (0: a free port)")
	bindHost := fs.String("bind-host", "127.0.0.1", "IP address moto listens on; anything but loopback exposes the emulators to whoever reaches it "+
		"(e.g. 172.17.0.1, the Docker bridge, for sam local on Linux)")
	if err := fs.Parse(args); err != nil {
		return 2, err
	}
	command := fs.Args()
	host, warning, err := listenHost(*bindHost)
	if err != nil {
		return 2, err
	}
	if warning != "" {
		fmt.Fprintln(stderr, "emulators: warning:", warning)
	}

	// Die with the parent (make, a shell): the deferred clean-up below then still runs.
	runtime.LockOSThread()
	if err := setParentDeathSignal(syscall.SIGTERM); err != nil {
		return 1, err
	}

	if err := os.MkdirAll(*logDir, 0o755); err != nil {
		return 1, err
	}
	kmsData, err := os.MkdirTemp(*logDir, "kms-data-")
	if err != nil {
		return 1, err
	}
	defer os.RemoveAll(kmsData)

	motoPort, err := portOrFree(*bindHost, *motoPortFlag)
	if err != nil {
		return 1, err
	}
	kmsPort, err := portOrFree("", *kmsPortFlag) // local-kms listens on every interface
	if err != nil {
		return 1, err
	}

	var procs []*proc
	defer func() {
		for _, p := range procs {
			terminate(p)
		}
	}()

	motoExe, motoArgs := *moto, []string{"-H", *bindHost, "-p", strconv.Itoa(motoPort)}
	if *motoPatched != "" {
		if _, err := os.Stat(*motoPatched); err == nil {
			motoExe, motoArgs = filepath.Join(filepath.Dir(*moto), "python3"), append([]string{*motoPatched}, motoArgs...)
		}
	}
	motoCmd, err := start(motoExe, motoArgs, nil, filepath.Join(*logDir, "moto.log"))
	if err != nil {
		return 1, fmt.Errorf("start moto (run make bootstrap first): %w", err)
	}
	procs = append(procs, motoCmd)
	kmsCmd, err := start(*localKMS, nil, []string{
		"PORT=" + strconv.Itoa(kmsPort),
		"KMS_REGION=" + region,
		"KMS_ACCOUNT_ID=" + accountID,
		"KMS_DATA_PATH=" + kmsData,
		"KMS_SEED_PATH=" + filepath.Join(kmsData, "no-seed.yaml"),
	}, filepath.Join(*logDir, "local-kms.log"))
	if err != nil {
		return 1, fmt.Errorf("start local-kms (run make bootstrap first): %w", err)
	}
	procs = append(procs, kmsCmd)

	motoURL := "http://" + net.JoinHostPort(host, strconv.Itoa(motoPort))
	kmsURL := fmt.Sprintf("http://127.0.0.1:%d", kmsPort)
	env := []string{
		"AWS_ENDPOINT_URL_DYNAMODB=" + motoURL,
		"AWS_ENDPOINT_URL_SQS=" + motoURL,
		"AWS_ENDPOINT_URL_SNS=" + motoURL,
		"AWS_ENDPOINT_URL_SECRETS_MANAGER=" + motoURL,
		"AWS_ENDPOINT_URL_STS=" + motoURL,
		"AWS_ENDPOINT_URL_S3=" + motoURL,
		"AWS_ENDPOINT_URL_FIREHOSE=" + motoURL,
		"AWS_ENDPOINT_URL_EVENTBRIDGE=" + motoURL,
		"AWS_ENDPOINT_URL_KMS=" + kmsURL,
		"AWS_ACCESS_KEY_ID=testing",
		"AWS_SECRET_ACCESS_KEY=testing",
		"AWS_SESSION_TOKEN=",
		"AWS_REGION=" + region,
		"AWS_DEFAULT_REGION=" + region,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_PROFILE=",
		"AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
	}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		os.Setenv(k, v)
	}

	readyCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := waitReady(readyCtx, procs); err != nil {
		return 1, fmt.Errorf("emulators did not become ready (logs in %s): %w", *logDir, err)
	}

	exports := exportLines(env)
	if *envFile != "" {
		if err := os.WriteFile(*envFile, []byte(exports), 0o644); err != nil {
			return 1, err
		}
		defer os.Remove(*envFile)
	}

	if len(command) == 0 {
		fmt.Fprint(stdout, exports)
		fmt.Fprintln(stderr, "emulators: moto on", motoURL, "· local-kms on", kmsURL, "· Ctrl-C stops both")
		select {
		case <-ctx.Done():
			return 0, nil
		case err := <-exited(procs):
			return 1, err
		}
	}
	return runCommand(ctx, command, procs)
}

// runCommand runs the command in its own process group so that a signal stops all of it (go
// test and its test binaries), and reports its exit code.
func runCommand(ctx context.Context, command []string, procs []*proc) (int, error) {
	cmd := exec.Command(command[0], command[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return 127, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode(), nil
		}
		return 0, err
	case <-ctx.Done():
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		return 130, errors.New("interrupted")
	case err := <-exited(procs):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		return 1, err
	}
}

// proc is a started emulator; done is closed when it exits.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
}

func start(path string, args, extraEnv []string, logPath string) (*proc, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), extraEnv...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// The kernel kills the emulator if this process dies without cleaning up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	p := &proc{name: filepath.Base(path), cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// exited reports the first emulator that stops on its own.
func exited(procs []*proc) <-chan error {
	ch := make(chan error, len(procs))
	for _, p := range procs {
		go func() {
			<-p.done
			ch <- fmt.Errorf("%s exited unexpectedly", p.name)
		}()
	}
	return ch
}

func terminate(p *proc) {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(3 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// waitReady polls each service with a real, cheap API call through the SDK.
func waitReady(ctx context.Context, procs []*proc) error {
	clients, err := awsclient.Load(ctx)
	if err != nil {
		return err
	}
	checks := map[string]func(context.Context) error{
		"dynamodb": func(ctx context.Context) error {
			_, err := clients.DynamoDB.ListTables(ctx, &dynamodb.ListTablesInput{})
			return err
		},
		"sqs": func(ctx context.Context) error {
			_, err := clients.SQS.ListQueues(ctx, &sqs.ListQueuesInput{})
			return err
		},
		"sns": func(ctx context.Context) error {
			_, err := clients.SNS.ListTopics(ctx, &sns.ListTopicsInput{})
			return err
		},
		"kms": func(ctx context.Context) error {
			_, err := clients.KMS.ListKeys(ctx, &kms.ListKeysInput{Limit: aws.Int32(1)})
			return err
		},
	}
	died := exited(procs)
	for name, check := range checks {
		for {
			callCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
			err := check(callCtx)
			cancel()
			if err == nil {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s: %w", name, err)
			case err := <-died:
				return err
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	return nil
}

// listenHost checks the -bind-host address. It returns the host that clients on this machine
// use to reach moto there (127.0.0.1 for a loopback or unspecified address, else the address
// itself), a warning when the address is not loopback, and an error when it is not an IP
// address.
func listenHost(bind string) (host, warning string, err error) {
	ip := net.ParseIP(bind)
	if ip == nil {
		return "", "", fmt.Errorf("-bind-host %q: want an IP address of this machine, e.g. 127.0.0.1 or 172.17.0.1", bind)
	}
	if ip.IsLoopback() {
		return bind, "", nil
	}
	host = bind
	if ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return host, fmt.Sprintf("moto listens on %s, not only on loopback: whoever reaches that address can read and change "+
		"every emulated table, queue, topic and secret (moto accepts any credentials). Use it on a trusted machine only, "+
		"for sam local's containers; local-kms listens on every interface in any case.", bind), nil
}

// portOrFree returns port if it is free on host ("" for every interface; a clear error if not),
// or any free port when port is 0.
func portOrFree(host string, port int) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return 0, fmt.Errorf("port %d is already in use on %q or the address is not this machine's; choose another or stop what is using it", port, host)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func exportLines(env []string) string {
	var b strings.Builder
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		fmt.Fprintf(&b, "export %s=%q\n", k, v)
	}
	return b.String()
}

func setParentDeathSignal(sig syscall.Signal) error {
	const prSetPdeathsig = 1
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetPdeathsig, uintptr(sig), 0); errno != 0 {
		return fmt.Errorf("prctl(PR_SET_PDEATHSIG): %w", errno)
	}
	// The parent may already have died between fork and prctl.
	if os.Getppid() == 1 {
		return errors.New("parent process already exited")
	}
	return nil
}
