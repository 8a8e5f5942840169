// Package etcdtest runs a real etcd server for tests: Debian's etcd-server
// package (the etcd binary) on 127.0.0.1, with ports of its own and a
// temporary data directory, stopped when the test ends.
package etcdtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// startTimeout bounds how long Start waits for etcd to answer.
const startTimeout = 20 * time.Second

// Server is one etcd process listening on 127.0.0.1.
type Server struct {
	t       testing.TB
	dir     string
	client  int
	peer    int
	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{}
	logPath string
}

// Start starts etcd and waits until it answers. It skips the test when the
// etcd binary is not installed (CI installs it: .ci/run), and fails it when
// etcd does not come up within a bound.
func Start(t testing.TB) *Server {
	t.Helper()
	if _, err := exec.LookPath("etcd"); err != nil {
		t.Skip("etcd is not installed (apt-get install etcd-server)")
	}
	s := &Server{t: t, dir: t.TempDir()}
	s.logPath = filepath.Join(s.dir, "etcd.log")
	// Free ports are found by binding and closing; another process may
	// take one meanwhile, so a failed start is retried on new ports.
	var err error
	for range 3 {
		s.client, s.peer = freePort(t), freePort(t)
		if err = s.start(); err == nil {
			t.Cleanup(s.Stop)
			return s
		}
		s.Stop()
	}
	t.Fatalf("etcdtest: %v\n%s", err, s.log())
	return nil
}

// Endpoint is the client URL.
func (s *Server) Endpoint() string { return "http://127.0.0.1:" + strconv.Itoa(s.client) }

// Stop kills etcd and waits for it to exit; its data stays for Restart.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Kill()
	<-done
}

// Restart starts etcd again on the same ports and data, and waits until
// it answers.
func (s *Server) Restart() {
	s.t.Helper()
	if err := s.start(); err != nil {
		s.t.Fatalf("etcdtest: restart: %v\n%s", err, s.log())
	}
}

// Client returns a client of the server, closed when the test ends.
func (s *Server) Client() *clientv3.Client {
	s.t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{s.Endpoint()}, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		s.t.Fatalf("etcdtest: client: %v", err)
	}
	s.t.Cleanup(func() { c.Close() })
	return c
}

func (s *Server) start() error {
	client := s.Endpoint()
	peer := "http://127.0.0.1:" + strconv.Itoa(s.peer)
	logFile, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd := exec.Command("etcd",
		"--name", "test",
		"--data-dir", filepath.Join(s.dir, "data"),
		"--listen-client-urls", client,
		"--advertise-client-urls", client,
		"--listen-peer-urls", peer,
		"--initial-advertise-peer-urls", peer,
		"--initial-cluster", "test="+peer,
		"--heartbeat-interval", "50",
		"--election-timeout", "500",
		"--log-level", "warn",
	)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()

	c, err := clientv3.New(clientv3.Config{Endpoints: []string{client}, DialTimeout: time.Second, Logger: zap.NewNop()})
	if err != nil {
		return err
	}
	defer c.Close()
	deadline := time.Now().Add(startTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		_, err := c.Get(ctx, "health")
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("etcd exited at start")
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("etcd did not answer within %s: %v", startTimeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *Server) log() string {
	b, _ := os.ReadFile(s.logPath)
	return strings.TrimSpace(string(b))
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("etcdtest: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
