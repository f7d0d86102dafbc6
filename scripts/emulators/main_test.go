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
	if _, err := portOrFree(busy); err == nil || !strings.Contains(err.Error(), "already in use") {
		t.Errorf("portOrFree(%d) on a busy port = %v; want an error saying it is in use", busy, err)
	}
	free, err := portOrFree(0)
	if err != nil || free == 0 || free == busy {
		t.Errorf("portOrFree(0) = %d, %v; want a free port", free, err)
	}
}
