// Package redistest starts real Redis and Valkey servers for tests: each on a
// free loopback port, in its own temp dir, stopped when the test ends. The
// binaries come from scripts/redis-servers.sh (make servers).
package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// The names of the servers the fetch script provides, by family and minor version.
const (
	Redis60  = "redis-6.0"
	Redis70  = "redis-7.0"
	Redis80  = "redis-8.0.2" // trixie
	Redis806 = "redis-8.0.6" // sid
	Redis86  = "redis-8.6"   // experimental
	Valkey81 = "valkey-8.1"
	Valkey91 = "valkey-9.1"
)

// All lists every server version, oldest first.
var All = []string{Redis60, Redis70, Redis80, Redis806, Redis86, Valkey81, Valkey91}

// BinDir finds the directory of server launchers: $REDFERRY_SERVERS/bin, or
// .cache/servers/bin in the module root found above the working directory.
func BinDir() (string, error) {
	if d := os.Getenv("REDFERRY_SERVERS"); d != "" {
		return filepath.Join(d, "bin"), nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, ".cache", "servers", "bin"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("redistest: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Binary returns the launcher whose name starts with name (e.g. "redis-7.0"
// matches "redis-7.0.15").
func Binary(name string) (string, error) {
	dir, err := BinDir()
	if err != nil {
		return "", err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("redistest: no servers in %s: run `make servers` (scripts/redis-servers.sh): %w", dir, err)
	}
	var names []string
	for _, e := range entries {
		if e.Name() == name || strings.HasPrefix(e.Name(), name+".") {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return "", fmt.Errorf("redistest: no server %q in %s: run `make servers`", name, dir)
	}
	sort.Strings(names)
	return filepath.Join(dir, names[len(names)-1]), nil
}

// Options configure a server.
type Options struct {
	// Args are extra config directives, e.g. {"repl-diskless-sync", "yes"}.
	Args []string
	// Password sets requirepass.
	Password string
	// Dir is the data dir; a temp dir when empty. Reusing one across Start
	// calls keeps the RDB (for restart tests).
	Dir string
	// Port to listen on; a free one when 0.
	Port int
	// Argv are appended to the command line as they are: for directives
	// with several values ("--rename-command", "PSYNC", "psync-x").
	Argv []string
	// ConfigFile, when set, is the first argument: a config file the
	// server loads (and rewrites: sentinels keep their state in it).
	ConfigFile string
}

// Server is a running server.
type Server struct {
	Name    string // the launcher's name, e.g. "redis-7.0.15"
	Addr    string // host:port on loopback
	Port    int
	Dir     string
	Version string // e.g. "7.0.15" (valkey: the valkey version)
	opts    Options
	binary  string
	tb      testing.TB

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Start starts the server named name and registers its stop with tb.Cleanup.
func Start(tb testing.TB, name string, opts Options) *Server {
	tb.Helper()
	bin, err := Binary(name)
	if err != nil {
		tb.Fatal(err)
	}
	s := &Server{Name: filepath.Base(bin), binary: bin, opts: opts, tb: tb}
	s.Version = s.Name[strings.LastIndex(s.Name, "-")+1:]
	s.Dir = opts.Dir
	if s.Dir == "" {
		s.Dir = tb.TempDir()
	}
	s.Port = opts.Port
	if err := s.start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Stop)
	return s
}

// FreePort returns a loopback TCP port nobody listens on right now.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) start() error {
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port := s.Port
		if port == 0 || attempt > 0 && s.opts.Port == 0 {
			p, err := FreePort()
			if err != nil {
				return err
			}
			port = p
		}
		args := []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", s.Dir,
			"--daemonize", "no", "--save", "", "--appendonly", "no",
			"--logfile", filepath.Join(s.Dir, "server.log"), "--protected-mode", "no"}
		if s.opts.Password != "" {
			args = append(args, "--requirepass", s.opts.Password)
		}
		for i := 0; i+1 < len(s.opts.Args); i += 2 {
			args = append(args, "--"+strings.TrimPrefix(s.opts.Args[i], "--"), s.opts.Args[i+1])
		}
		args = append(args, s.opts.Argv...)
		if s.opts.ConfigFile != "" {
			args = append([]string{s.opts.ConfigFile}, args...)
		}
		cmd := exec.Command(s.binary, args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("redistest: start %s: %w", s.Name, err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		s.mu.Lock()
		s.cmd, s.done, s.Port, s.Addr = cmd, done, port, net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		s.mu.Unlock()
		if err := s.waitReady(done); err != nil {
			lastErr = err
			s.kill()
			continue
		}
		return nil
	}
	return fmt.Errorf("redistest: %s did not start: %w (log: %s)", s.Name, lastErr, s.LogTail())
}

func (s *Server) waitReady(done chan struct{}) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return errors.New("server exited")
		default:
		}
		c := s.Client()
		err := c.Ping(context.Background()).Err()
		c.Close()
		if err == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errors.New("not answering PING after 10s")
}

// Client returns a new go-redis client for db 0 (RESP2, no retries). The
// caller closes it.
func (s *Server) Client() *redis.Client { return s.ClientDB(0) }

// ClientDB returns a new client for a db.
func (s *Server) ClientDB(db int) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: s.Addr, Password: s.opts.Password, DB: db,
		Protocol: 2, MaxRetries: -1, DisableIdentity: true, ReadTimeout: 30 * time.Second})
}

// URL is the redis:// URL of the server.
func (s *Server) URL() string {
	if s.opts.Password != "" {
		return "redis://:" + s.opts.Password + "@" + s.Addr
	}
	return "redis://" + s.Addr
}

// Kill stops the server at once (SIGKILL), without saving.
func (s *Server) Kill() { s.kill() }

func (s *Server) kill() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-done
}

// Stop shuts the server down (SIGTERM, then SIGKILL after 5 s).
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	select {
	case <-done:
		return
	default:
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		s.kill()
	}
}

// Restart stops the server (it saves an RDB first when save is true, so a
// Redis 7+ server keeps its replid and offset) and starts it again on the
// same port and dir.
func (s *Server) Restart(save bool) {
	s.tb.Helper()
	if save {
		c := s.Client()
		if err := c.Do(context.Background(), "SAVE").Err(); err != nil {
			s.tb.Fatalf("redistest: SAVE on %s: %v", s.Name, err)
		}
		c.Close()
	}
	s.Stop()
	s.opts.Port = s.Port
	if err := s.start(); err != nil {
		s.tb.Fatal(err)
	}
}

// LogTail returns the last lines of the server's log, for failure messages.
func (s *Server) LogTail() string {
	b, err := os.ReadFile(filepath.Join(s.Dir, "server.log"))
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return strings.Join(lines, "\n")
}
