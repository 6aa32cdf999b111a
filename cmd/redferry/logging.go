package main

import (
	"fmt"
	"os"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/term"
)

// newLogger builds the process logger: JSON when stderr is not a terminal
// (systemd, containers), console otherwise, unless format says which.
func newLogger(level, format string) (*zap.Logger, zap.AtomicLevel, error) {
	cfg, err := loggerConfig(level, format, term.IsTerminal(int(os.Stderr.Fd())), os.Getenv("NO_COLOR"))
	if err != nil {
		return nil, zap.AtomicLevel{}, err
	}
	log, err := cfg.Build()
	return log, cfg.Level, err
}

// loggerConfig is newLogger's configuration for a stderr that is or is not a
// terminal and the value of $NO_COLOR. Console lines get coloured levels only
// on a terminal and only without NO_COLOR (https://no-color.org): escape codes
// in a file, a pipe or a CI log are noise.
func loggerConfig(level, format string, stderrIsTerminal bool, noColor string) (zap.Config, error) {
	lvl, err := zap.ParseAtomicLevel(level)
	if err != nil {
		return zap.Config{}, fmt.Errorf("log-level: %w", err)
	}
	if format == "auto" {
		format = "json"
		if stderrIsTerminal {
			format = "console"
		}
	}
	var cfg zap.Config
	if format == "console" {
		cfg = zap.NewDevelopmentConfig()
		cfg.EncoderConfig.EncodeLevel = zapcore.CapitalLevelEncoder
		if stderrIsTerminal && noColor == "" {
			cfg.EncoderConfig.EncodeLevel = zapcore.CapitalColorLevelEncoder
		}
		cfg.Development = false
		cfg.DisableStacktrace = true
	} else {
		cfg = zap.NewProductionConfig()
		cfg.EncoderConfig.TimeKey = "time"
		cfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
		cfg.Sampling = nil
		// An error here is an operator's message, not a bug: no Go stack trace.
		cfg.DisableStacktrace = true
	}
	cfg.Level = lvl
	cfg.OutputPaths = []string{"stderr"}
	return cfg, nil
}
