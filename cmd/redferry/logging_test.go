package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/redferry/redferry/internal/redistest"
)

const escape = "\x1b["

func TestLoggerColoursOnlyATerminalWithoutNoColor(t *testing.T) {
	for _, tc := range []struct {
		name     string
		format   string
		terminal bool
		noColor  string
		want     string // a piece of the INFO line
		colour   bool
	}{
		{"console on a terminal", "console", true, "", "INFO", true},
		{"console on a terminal with NO_COLOR", "console", true, "1", "INFO", false},
		{"console into a pipe or file", "console", false, "", "INFO", false},
		{"auto on a terminal", "auto", true, "", "INFO", true},
		{"auto on a terminal with NO_COLOR", "auto", true, "yes", "INFO", false},
		{"auto into a pipe or file is JSON", "auto", false, "", `"level":"info"`, false},
		{"json on a terminal", "json", true, "", `"level":"info"`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := loggerConfig("info", tc.format, tc.terminal, tc.noColor)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "log")
			cfg.OutputPaths = []string{path}
			log, err := cfg.Build()
			if err != nil {
				t.Fatal(err)
			}
			log.Info("filled", zap.Int("keys", 3))
			_ = log.Sync()
			out, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			line := string(out)
			if !strings.Contains(line, tc.want) || !strings.Contains(line, "filled") {
				t.Errorf("log line %q lacks %q", line, tc.want)
			}
			if got := strings.Contains(line, escape); got != tc.colour {
				t.Errorf("colour escape codes in %q: %v, want %v", line, got, tc.colour)
			}
		})
	}
}

func TestLoggerRejectsUnknownLevel(t *testing.T) {
	if _, err := loggerConfig("loud", "console", true, ""); err == nil || !strings.Contains(err.Error(), "log-level") {
		t.Fatalf("level %q: err = %v, want a log-level error", "loud", err)
	}
}

// The demo's case: --log-format console with stderr into a pipe.
func TestConsoleLogIntoAPipeHasNoEscapeCodes(t *testing.T) {
	src := redistest.Start(t, redistest.Redis70, redistest.Options{Args: []string{"repl-diskless-sync-delay", "0"}})
	dst := redistest.Start(t, redistest.Valkey91, redistest.Options{})
	out, code := run(t, time.Minute, "sync", "--source", src.URL(), "--target", dst.URL(),
		"--state-dir", t.TempDir(), "--once", "--log-format", "console")
	if code != 0 {
		t.Fatalf("sync --once exited %d:\n%s", code, out)
	}
	if !strings.Contains(out, "\tINFO\t") {
		t.Fatalf("no console INFO line in:\n%s", out)
	}
	if strings.Contains(out, escape) {
		t.Fatalf("escape codes in a log that is not on a terminal:\n%q", out)
	}
}
