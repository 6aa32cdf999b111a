package fidelity

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// BuildRedferry builds the redferry binary into dir and returns its path.
func BuildRedferry(dir string) (string, error) {
	bin := filepath.Join(dir, "redferry")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/redferry/redferry/cmd/redferry").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("building redferry: %w\n%s", err, out)
	}
	return bin, nil
}

// syncProcess is one `redferry sync` run, its log in a file.
type syncProcess struct {
	cmd     *exec.Cmd
	done    chan struct{}
	logPath string
	log     *os.File
}

// startSync starts `redferry sync` from source into target with a state dir
// of its own. flush empties the target first (a restart after a stop).
func startSync(binary, source, target, stateDir, logPath string, flush bool) (*syncProcess, error) {
	log, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("creating the redferry log: %w", err)
	}
	args := []string{"sync", "--source", source, "--target", target, "--state-dir", stateDir,
		"--status-addr", "", "--log-format", "json", "--progress", "never"}
	if flush {
		args = append(args, "--flush-target")
	}
	cmd := exec.Command(binary, args...)
	cmd.Env = withoutRedferrySettings(os.Environ())
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("starting redferry: %w", err)
	}
	p := &syncProcess{cmd: cmd, done: make(chan struct{}), logPath: logPath, log: log}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// withoutRedferrySettings drops REDFERRY_* variables, which redferry would
// read as settings.
func withoutRedferrySettings(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, "REDFERRY_") {
			out = append(out, kv)
		}
	}
	return out
}

func (p *syncProcess) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop ends the process: SIGTERM, then SIGKILL after 5 s.
func (p *syncProcess) stop() {
	defer p.log.Close()
	if p.exited() {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// failure is what redferry said when it stopped: the error of its last
// error-level log line, else the end of its log.
func (p *syncProcess) failure() string {
	f, err := os.Open(p.logPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer f.Close()
	var last, lastErr string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		last = line
		var rec struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
			Error string `json:"error"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Level == "error" {
			lastErr = rec.Msg
			if rec.Error != "" {
				lastErr = rec.Error
			}
		}
	}
	if lastErr != "" {
		return lastErr
	}
	if p.exited() {
		return fmt.Sprintf("exit %d, no error logged; last line: %s", p.cmd.ProcessState.ExitCode(), last)
	}
	return "no error logged; last line: " + last
}
