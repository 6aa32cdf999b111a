// Package config holds redferry's settings: defaults, a TOML file, REDFERRY_*
// environment variables and command-line flags, in that order of precedence.
// Every setting is one field of Config; its toml tag is its name everywhere:
// the key in the file, the flag (--state-dir) and the variable (REDFERRY_STATE_DIR).
package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/redferry/redferry/pkg/unholdable"
)

// Config is every setting of `redferry sync`.
type Config struct {
	Source             string `toml:"source" help:"source server URL: redis://[user:password@]host:port (rediss:// for TLS), or redis+sentinel://[user:password@]host:port[,host:port]/master-name"`
	SourcePassword     string `toml:"source-password" help:"source password (prefer source-password-file or REDFERRY_SOURCE_PASSWORD)" secret:"true"`
	SourcePasswordFile string `toml:"source-password-file" help:"file holding the source password"`
	Target             string `toml:"target" help:"target server URL: redis://[user:password@]host:port (rediss:// for TLS), or redis+sentinel://[user:password@]host:port[,host:port]/master-name"`
	TargetPassword     string `toml:"target-password" help:"target password (prefer target-password-file or REDFERRY_TARGET_PASSWORD)" secret:"true"`
	TargetPasswordFile string `toml:"target-password-file" help:"file holding the target password"`

	SourceTLSCAFile     string `toml:"source-tls-ca-file" help:"CA certificates (PEM) that sign the source's TLS certificate (default: the system's)"`
	SourceTLSCertFile   string `toml:"source-tls-cert-file" help:"client certificate (PEM) for TLS to the source"`
	SourceTLSKeyFile    string `toml:"source-tls-key-file" help:"client key (PEM) for TLS to the source"`
	SourceTLSServerName string `toml:"source-tls-server-name" help:"name to check the source's certificate against (default: its host)"`
	SourceTLSSkipVerify bool   `toml:"source-tls-skip-verify" help:"do not check the source's certificate (tests only)"`
	TargetTLSCAFile     string `toml:"target-tls-ca-file" help:"CA certificates (PEM) that sign the target's TLS certificate (default: the system's)"`
	TargetTLSCertFile   string `toml:"target-tls-cert-file" help:"client certificate (PEM) for TLS to the target"`
	TargetTLSKeyFile    string `toml:"target-tls-key-file" help:"client key (PEM) for TLS to the target"`
	TargetTLSServerName string `toml:"target-tls-server-name" help:"name to check the target's certificate against (default: its host)"`
	TargetTLSSkipVerify bool   `toml:"target-tls-skip-verify" help:"do not check the target's certificate (tests only)"`

	// The sentinels' own password, for redis+sentinel:// URLs: the URL's
	// user:password is the data nodes'.
	SourceSentinelPassword     string `toml:"source-sentinel-password" help:"password of the source's sentinels (redis+sentinel://), when they require one: the URL's password is the data nodes' (prefer source-sentinel-password-file or REDFERRY_SOURCE_SENTINEL_PASSWORD)" secret:"true"`
	SourceSentinelPasswordFile string `toml:"source-sentinel-password-file" help:"file holding the password of the source's sentinels"`
	TargetSentinelPassword     string `toml:"target-sentinel-password" help:"password of the target's sentinels (redis+sentinel://), when they require one (prefer target-sentinel-password-file or REDFERRY_TARGET_SENTINEL_PASSWORD)" secret:"true"`
	TargetSentinelPasswordFile string `toml:"target-sentinel-password-file" help:"file holding the password of the target's sentinels"`

	StateDir   string `toml:"state-dir" help:"directory for the spool (snapshot and stream) and the file checkpoint"`
	StatusAddr string `toml:"status-addr" help:"HTTP address of /status (empty: off)"`
	Once       bool   `toml:"once" help:"exit 0 once the snapshot is applied and the target has caught up with the source offset seen then"`

	// StatusToken guards the status server's endpoints that change state
	// (POST /cutover pauses the source's writes); see ValidateStatusServer.
	StatusToken     string `toml:"status-token" help:"bearer token that POST /cutover and PUT /loglevel require; needed when status-addr is not loopback (prefer status-token-file or REDFERRY_STATUS_TOKEN)" secret:"true"`
	StatusTokenFile string `toml:"status-token-file" help:"file holding the status token"`

	FlushTarget bool `toml:"flush-target" help:"empty the target before the first full sync"`
	Merge       bool `toml:"merge" help:"keep the keys a non-empty target already holds (snapshot keys replace same-named ones)"`

	Checkpoint    string `toml:"checkpoint" help:"where the applied offset is kept: target (exactly-once, in the target's MULTI/EXEC) or file (at-least-once)"`
	CheckpointKey string `toml:"checkpoint-key" help:"name of the checkpoint key in db 0 of the target (default redferry:checkpoint:<name>)"`
	// Name, not the source's address, names the checkpoint, so pointing
	// redferry at a promoted replica finds it.
	Name string `toml:"name" help:"name of this sync, for the default checkpoint key; give each sync into the same target its own"`
	// Shards selects masters of a cluster source (pkg/clustersource), so
	// that several redferry processes can share a large cluster.
	Shards []string `toml:"shards" help:"cluster source: sync only these masters, by index (0-based, masters ordered by first slot) or node id (of any node of the shard); repeat or separate by commas (default: all)"`

	OnTargetError string `toml:"on-target-error" help:"a command the target rejects: stop (default) or log and go on"`
	OnCrossSlot   string `toml:"on-cross-slot" help:"a cluster target and a source transaction or script writing keys in different slots: stop (default) or split (apply it one slot at a time, not atomically)"`
	OnFullResync  string `toml:"on-full-resync" help:"the source cannot continue and sends a new snapshot: flush (empty the target, resync) or stop"`
	ReplayPublish bool   `toml:"replay-publish" help:"replay PUBLISH commands of the stream to the target"`
	// ReplayMode: how snapshot keys are written (see transform.ModeAuto).
	ReplayMode string `toml:"replay-mode" help:"snapshot keys: auto (RESTORE of values up to 4 MiB: as stored when the target reads the snapshot's RDB version, else re-encoded for it; hash field TTLs and bigger values by commands), commands, or restore"`

	// Data the target cannot hold (package unholdable): stop, skip or
	// convert, per kind. verify reads them too, and reports what they skip
	// or convert as expected differences.
	OnUnholdableFunctions string `toml:"on-unholdable-functions" help:"functions on a target without them (Redis 6.x): stop (default) or skip (libraries left out)"`
	OnUnholdableFieldTTL  string `toml:"on-unholdable-field-ttl" help:"hash field TTLs on a target without them: stop (default), skip (fields with a TTL left out) or convert (fields kept without their TTLs)"`
	OnUnholdableModule    string `toml:"on-unholdable-module" help:"module values (vector sets outside Redis 8, modules the target lacks) and module aux data: stop (default) or skip (keys left out)"`
	OnUnholdableIDMP      string `toml:"on-unholdable-idmp" help:"stream idempotent ids (XADD IDMP/IDMPAUTO, XCFGSET; Redis 8.6) the target cannot record: stop (default), skip (those entries left out) or convert (entries kept without their ids)"`
	// OnUnknownModule is the former name of on-unholdable-module (error = stop).
	OnUnknownModule string `toml:"on-unknown-module" help:"former name of on-unholdable-module: error (= stop) or skip"`

	MaxSpoolBytes int64 `toml:"max-spool-bytes" help:"stop reading the source when the spool holds this many bytes (0: no limit)"`
	SegmentBytes  int64 `toml:"segment-bytes" help:"size of one spool segment file of the command stream"`
	BatchCommands int   `toml:"batch-commands" help:"commands per batch written to the target"`
	BatchBytes    int   `toml:"batch-bytes" help:"bytes per batch written to the target"`
	ListeningPort int   `toml:"listening-port" help:"port redferry reports to the source as its replica port (REPLCONF listening-port)"`
	// SourcePSyncCommand: some managed services rename PSYNC (rename-command).
	SourcePSyncCommand string `toml:"source-psync-command" help:"the name of PSYNC on the source, when it renamed the command (managed services); default PSYNC"`

	DialTimeout time.Duration `toml:"dial-timeout" help:"timeout of one connection attempt"`
	IOTimeout   time.Duration `toml:"io-timeout" help:"timeout of a read or write on an established connection"`

	LogLevel  string `toml:"log-level" help:"debug, info, warn or error"`
	LogFormat string `toml:"log-format" help:"auto (console on a terminal, JSON otherwise), json or console"`
	Progress  string `toml:"progress" help:"progress bars: auto (on a terminal), always or never"`

	ReadyMaxLag time.Duration `toml:"ready-max-lag" help:"GET /readyz is ready when streaming with a lag below this (0: streaming is enough)"`

	FilterSettings // filter.go
	LimitSettings  // filter.go
}

// Default returns the settings used where nothing else is said.
func Default() Config {
	return Config{
		StateDir:      "./redferry-state",
		StatusAddr:    "127.0.0.1:9470",
		Checkpoint:    "target",
		Name:          "default",
		OnTargetError: "stop",
		OnCrossSlot:   "stop",
		OnFullResync:  "flush",

		ReplayMode: "auto",

		OnUnholdableFunctions: "stop",
		OnUnholdableFieldTTL:  "stop",
		OnUnholdableModule:    "stop",
		OnUnholdableIDMP:      "stop",

		SegmentBytes:  64 << 20,
		BatchCommands: 2000,
		BatchBytes:    4 << 20,
		ListeningPort: 0,
		DialTimeout:   5 * time.Second,
		IOTimeout:     30 * time.Second,
		LogLevel:      "info",
		LogFormat:     "auto",
		Progress:      "auto",
		ReadyMaxLag:   10 * time.Second,

		FilterSettings: FilterSettings{OnFilterConflict: "stop"},
	}
}

// Validate reports every problem at once, each with its setting's name.
func (c *Config) Validate() error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{name}, args...)...))
	}
	if c.Source == "" {
		bad("source", "missing: give --source redis://host:port")
	} else if _, err := ParseURL(c.Source); err != nil {
		bad("source", "%v", err)
	}
	if c.Target == "" {
		bad("target", "missing: give --target redis://host:port")
	} else if _, err := ParseURL(c.Target); err != nil {
		bad("target", "%v", err)
	}
	if c.StateDir == "" {
		bad("state-dir", "must not be empty")
	}
	oneOf := func(name, v string, allowed ...string) {
		for _, a := range allowed {
			if v == a {
				return
			}
		}
		bad(name, "%q is not one of %s", v, strings.Join(allowed, ", "))
	}
	oneOf("checkpoint", c.Checkpoint, "target", "file")
	oneOf("on-target-error", c.OnTargetError, "stop", "log")
	oneOf("on-cross-slot", c.OnCrossSlot, "stop", "split")
	oneOf("on-full-resync", c.OnFullResync, "flush", "stop")
	oneOf("replay-mode", c.ReplayMode, "auto", "commands", "restore")
	if c.OnUnknownModule != "" {
		oneOf("on-unknown-module", c.OnUnknownModule, "error", "skip")
	}
	if _, err := c.UnholdablePolicy(); err != nil {
		errs = append(errs, err)
	}
	oneOf("log-level", c.LogLevel, "debug", "info", "warn", "error")
	oneOf("log-format", c.LogFormat, "auto", "json", "console")
	oneOf("progress", c.Progress, "auto", "always", "never")
	if c.FlushTarget && c.Merge {
		bad("flush-target", "cannot be combined with merge: choose one")
	}
	if c.MaxSpoolBytes < 0 {
		bad("max-spool-bytes", "must be >= 0, got %d", c.MaxSpoolBytes)
	}
	if c.SegmentBytes < 1<<20 {
		bad("segment-bytes", "must be at least 1 MiB, got %d", c.SegmentBytes)
	}
	if c.BatchCommands < 1 {
		bad("batch-commands", "must be >= 1, got %d", c.BatchCommands)
	}
	if c.BatchBytes < 1024 {
		bad("batch-bytes", "must be >= 1024, got %d", c.BatchBytes)
	}
	if c.ListeningPort < 0 || c.ListeningPort > 65535 {
		bad("listening-port", "must be a TCP port, got %d", c.ListeningPort)
	}
	if strings.ContainsAny(c.SourcePSyncCommand, " \t\r\n") {
		bad("source-psync-command", "%q is not a command name: give the one word the source's rename-command gives PSYNC", c.SourcePSyncCommand)
	}
	if c.ReadyMaxLag < 0 {
		bad("ready-max-lag", "must be >= 0, got %s", c.ReadyMaxLag)
	}
	if c.DialTimeout <= 0 || c.IOTimeout <= 0 {
		bad("dial-timeout/io-timeout", "must be > 0")
	}
	errs = append(errs, c.validateFilter(), c.validateLimits())
	return errors.Join(errs...)
}

// UnholdablePolicy is the on-unholdable-* settings, with the former
// on-unknown-module standing for on-unholdable-module when that is left at
// its default.
func (c *Config) UnholdablePolicy() (unholdable.Policy, error) {
	p := unholdable.Policy{Functions: unholdable.Action(c.OnUnholdableFunctions), FieldTTL: unholdable.Action(c.OnUnholdableFieldTTL),
		Module: unholdable.Action(c.OnUnholdableModule), IDMP: unholdable.Action(c.OnUnholdableIDMP)}
	if c.OnUnknownModule != "" {
		old := unholdable.Skip
		if c.OnUnknownModule == "error" {
			old = unholdable.Stop
		}
		if p.Module != "" && p.Module != unholdable.Stop && p.Module != old {
			return p, fmt.Errorf("on-unknown-module (%q) is the former name of on-unholdable-module (%q): set only on-unholdable-module",
				c.OnUnknownModule, p.Module)
		}
		p.Module = old
	}
	return p, p.Validate()
}

// ResolvePasswords reads the password files, once the config is complete.
// A password in the URL is the default; a password setting or file overrides it.
func (c *Config) ResolvePasswords() error {
	for _, p := range []struct {
		file string
		dst  *string
		name string
	}{{c.SourcePasswordFile, &c.SourcePassword, "source-password-file"}, {c.TargetPasswordFile, &c.TargetPassword, "target-password-file"},
		{c.SourceSentinelPasswordFile, &c.SourceSentinelPassword, "source-sentinel-password-file"},
		{c.TargetSentinelPasswordFile, &c.TargetSentinelPassword, "target-sentinel-password-file"}} {
		if p.file == "" {
			continue
		}
		b, err := os.ReadFile(p.file)
		if err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		*p.dst = strings.TrimRight(string(b), "\r\n")
	}
	return nil
}

// SourceEndpoint is the parsed source URL with the password settings applied.
func (c *Config) SourceEndpoint() (Endpoint, error) {
	return endpointWith(c.Source, c.SourcePassword, c.SourceSentinelPassword)
}

// TargetEndpoint is the parsed target URL with the password settings applied.
func (c *Config) TargetEndpoint() (Endpoint, error) {
	return endpointWith(c.Target, c.TargetPassword, c.TargetSentinelPassword)
}

// SourceTLS is the TLS configuration for the source: nil for plain TCP
// (a redis:// URL and no TLS file set).
func (c *Config) SourceTLS() (*tls.Config, error) {
	return tlsConfig("source", c.Source, c.SourceTLSCAFile, c.SourceTLSCertFile, c.SourceTLSKeyFile, c.SourceTLSServerName, c.SourceTLSSkipVerify)
}

// TargetTLS is the TLS configuration for the target, as SourceTLS.
func (c *Config) TargetTLS() (*tls.Config, error) {
	return tlsConfig("target", c.Target, c.TargetTLSCAFile, c.TargetTLSCertFile, c.TargetTLSKeyFile, c.TargetTLSServerName, c.TargetTLSSkipVerify)
}

func tlsConfig(side, url, caFile, certFile, keyFile, serverName string, skipVerify bool) (*tls.Config, error) {
	ep, err := ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", side, err)
	}
	if !ep.TLS && caFile == "" && certFile == "" && keyFile == "" {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName, InsecureSkipVerify: skipVerify}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("%s-tls-ca-file: %w", side, err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s-tls-ca-file %s: no PEM certificate in it", side, caFile)
		}
	}
	if (certFile == "") != (keyFile == "") {
		return nil, fmt.Errorf("%s-tls-cert-file and %s-tls-key-file go together: give both or neither", side, side)
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("%s-tls-cert-file/%s-tls-key-file: %w", side, side, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	if tc.ServerName == "" {
		if host, _, err := net.SplitHostPort(ep.Addr); err == nil {
			tc.ServerName = host
		}
	}
	return tc, nil
}

func endpointWith(url, password, sentinelPassword string) (Endpoint, error) {
	ep, err := ParseURL(url)
	if err != nil {
		return Endpoint{}, err
	}
	if password != "" {
		ep.Password = password
	}
	if sentinelPassword != "" && ep.Sentinel != nil {
		ep.Sentinel.Password = sentinelPassword
	}
	return ep, nil
}
