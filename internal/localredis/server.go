// Package localredis runs redis-server child processes on loopback ports.
// Tests (through internal/testutil) and the benchmark command both need a
// real Redis they own: started on a free port, in a private directory,
// stopped when they are done.
package localredis

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrNoBinary means redis-server is not installed; the message says how to
// get it, because the suites must not silently skip.
var ErrNoBinary = errors.New("redis-server not found on PATH: run `make test` or `make bench` (they install it) or `apt-get install -y redis-server`")

// FreePort returns a loopback TCP port that was free a moment ago, below
// the kernel's range of ephemeral ports where there is room for one. A
// port in that range (what the kernel hands out for ":0") is also the
// local port of any outgoing connection: a server stopped for a while (a
// killed master, a broker outage) could not restart on its port once a
// client connection had taken it, and with hundreds of connections open
// in a test that happens. Below the range only a listener can take it.
func FreePort() (int, error) {
	if lo, hi := portsBelowEphemeral(); hi-lo >= 1000 {
		for range 64 {
			port := lo + rand.IntN(hi-lo)
			ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
			if err != nil {
				continue // taken: another one
			}
			_ = ln.Close()
			return port, nil
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// firstPort is the lowest port FreePort picks: above the well-known and
// most registered services' ports.
const firstPort = 10000

// portsBelowEphemeral is [firstPort, the first ephemeral port) as Linux
// configures it (ip_local_port_range), read once; empty where that cannot
// be read.
var portsBelowEphemeral = sync.OnceValues(func() (lo, hi int) {
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, 0
	}
	first, err := strconv.Atoi(strings.Fields(string(data) + " x")[0])
	if err != nil || first <= firstPort {
		return 0, 0
	}
	return firstPort, first
})

// Binary finds redis-server.
func Binary() (string, error) {
	path, err := exec.LookPath("redis-server")
	if err != nil {
		return "", ErrNoBinary
	}
	return path, nil
}

// Server is a redis-server child process. It is not safe for concurrent
// use: one owner starts and stops it.
type Server struct {
	// Port and Dir are fixed for the server's life, so a restart finds its
	// data (when persistence is on) at the same address.
	Port int
	Dir  string // redis-server's --dir (data files) and where redis.log goes
	// ClusterBusPort, when not 0, is the cluster bus's port (a cluster
	// node's --cluster-port), fixed like Port. Its default, Port + 10000,
	// is in the range the kernel hands out to client connections.
	ClusterBusPort int
	// Args are extra redis-server arguments (e.g. "--cluster-enabled", "yes").
	Args    []string
	cmd     *exec.Cmd
	exited  chan struct{} // closed once cmd has exited (and been waited for)
	started bool          // once, Port and ClusterBusPort are the server's for good
}

// New describes a server on a free port in dir; Start runs it.
func New(dir string, args ...string) (*Server, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	return &Server{Port: port, Dir: dir, Args: args}, nil
}

// Addr is host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.Port) }

// URL is the redis:// URL of database 0.
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

// Pid is the running process id (0 when stopped).
func (s *Server) Pid() int {
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Start (re)starts the server and waits until it answers PING. The server
// is non-persistent unless Args turn persistence on. A port found free
// may be taken before redis-server binds it (by a client connection's
// local port, or another server of a test running beside this one): the
// first start then moves to other free ports, a few times; a restart
// keeps its ports.
func (s *Server) Start(ctx context.Context) error {
	for attempt := 1; ; attempt++ {
		err := s.start(ctx)
		if err == nil || s.started || attempt == 3 || !errors.Is(err, errPortTaken) {
			if err == nil {
				s.started = true
			}
			return err
		}
		if s.Port, err = FreePort(); err != nil {
			return err
		}
		if s.ClusterBusPort != 0 {
			if s.ClusterBusPort, err = FreePort(); err != nil {
				return err
			}
		}
	}
}

// errPortTaken is start's error when redis-server could not bind a port.
var errPortTaken = errors.New("port already in use")

func (s *Server) start(ctx context.Context) error {
	bin, err := Binary()
	if err != nil {
		return err
	}
	logfile := filepath.Join(s.Dir, "redis.log")
	args := []string{
		"--port", strconv.Itoa(s.Port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", s.Dir, "--protected-mode", "no", "--logfile", logfile,
	}
	if s.ClusterBusPort != 0 {
		args = append(args, "--cluster-port", strconv.Itoa(s.ClusterBusPort))
	}
	args = append(args, s.Args...)
	s.cmd = exec.Command(bin, args...)
	s.cmd.Stdout, s.cmd.Stderr = os.Stderr, os.Stderr
	TieToParent(s.cmd)
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	exited, cmd := make(chan struct{}), s.cmd
	s.exited = exited
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		pctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		err := c.Ping(pctx).Err()
		cancel()
		// A server started with a password answers NOAUTH: it is up.
		if err != nil && strings.HasPrefix(err.Error(), "NOAUTH") {
			return nil
		}
		if err == nil {
			// The answer may come from another server that holds the port
			// (this one then failed to bind it and exited).
			info, ierr := c.Info(ctx, "server").Result()
			if ierr == nil && !strings.Contains(info, "process_id:"+strconv.Itoa(s.cmd.Process.Pid)+"\r\n") {
				s.Stop()
				return fmt.Errorf("%w: %s answers for another redis-server", errPortTaken, s.Addr())
			}
			return nil
		}
		select {
		case <-exited:
			deadline = time.Time{} // it will not answer
		default:
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			log, _ := os.ReadFile(logfile)
			s.Stop()
			if bytes.Contains(log, []byte("Address already in use")) {
				err = fmt.Errorf("%w: %w", errPortTaken, err)
			}
			return fmt.Errorf("redis-server on %s did not answer: %w\n%s", s.Addr(), err, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Shutdown stops the server with SIGTERM, as an operator would (a
// persistent server saves its data), and waits.
func (s *Server) Shutdown() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	<-s.exited
	s.cmd = nil
}

// Pause freezes the server (SIGSTOP): connections stay open but nothing
// answers, like a Redis that is hung. Resume undoes it.
func (s *Server) Pause() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGSTOP)
	}
}

// Resume continues a paused server.
func (s *Server) Resume() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGCONT)
	}
}

// Stop kills the server (like a crash: no save) and waits for it.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGCONT) // a paused server cannot die otherwise
	_ = s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// String describes the server for logs.
func (s *Server) String() string { return fmt.Sprintf("redis-server %s", s.Addr()) }

// StartIn starts a server in dir (made if missing) and returns it with a
// client, for a program that owns a redis-server for one run (the
// benchmarks). The caller closes the client and stops the server.
func StartIn(ctx context.Context, dir string) (*Server, *redis.Client, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, nil, fmt.Errorf("redis-server directory: %w", err)
	}
	s, err := New(dir)
	if err != nil {
		return nil, nil, err
	}
	if err := s.Start(ctx); err != nil {
		return nil, nil, err
	}
	return s, redis.NewClient(&redis.Options{Addr: s.Addr()}), nil
}
