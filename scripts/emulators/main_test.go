package main

import (
	"bytes"
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
)

func TestAMissingEmulatorSaysToRunMakeBootstrap(t *testing.T) {
	dir := t.TempDir()
	var stderr bytes.Buffer
	code, err := run(context.Background(), []string{
		"-moto", filepath.Join(dir, "no-moto"), "-log-dir", filepath.Join(dir, "logs"), "--", "true",
	}, &bytes.Buffer{}, &stderr)
	if err == nil || code == 0 {
		t.Fatalf("run = %d, %v; want a failure when moto is not installed", code, err)
	}
	if !strings.Contains(err.Error(), "make bootstrap") {
		t.Errorf("error %q does not say how to install the emulators", err)
	}
}

func TestABusyPortIsAClearErrorAndZeroPicksAFreeOne(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	busy := l.Addr().(*net.TCPAddr).Port
	if _, err := portOrFree("127.0.0.1", busy); err == nil || !strings.Contains(err.Error(), "already in use") {
		t.Errorf("portOrFree(127.0.0.1, %d) on a busy port = %v; want an error saying it is in use", busy, err)
	}
	free, err := portOrFree("127.0.0.1", 0)
	if err != nil || free == 0 || free == busy {
		t.Errorf("portOrFree(0) = %d, %v; want a free port", free, err)
	}
}

func TestBindHostWarnsUnlessLoopbackAndNamesTheAddressClientsUse(t *testing.T) {
	tests := []struct {
		bind, host string
		warns, err bool
	}{
		{"127.0.0.1", "127.0.0.1", false, false},
		{"::1", "::1", false, false},
		{"0.0.0.0", "127.0.0.1", true, false},
		{"172.17.0.1", "172.17.0.1", true, false},
		{"docker-bridge", "", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.bind, func(t *testing.T) {
			host, warning, err := listenHost(tt.bind)
			if (err != nil) != tt.err || host != tt.host || (warning != "") != tt.warns {
				t.Errorf("listenHost(%q) = %q, %q, %v; want host %q, warning %v, error %v", tt.bind, host, warning, err, tt.host, tt.warns, tt.err)
			}
		})
	}
}
