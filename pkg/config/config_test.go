package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/redferry/redferry/pkg/unholdable"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		in      string
		want    Endpoint
		wantErr string
	}{
		{in: "redis://127.0.0.1:6379", want: Endpoint{Addr: "127.0.0.1:6379"}},
		{in: "redis://host", want: Endpoint{Addr: "host:6379"}},
		{in: "rediss://u:p%40ss@h:7000/3", want: Endpoint{Addr: "h:7000", Username: "u", Password: "p@ss", TLS: true, DB: 3}},
		{in: "redis://:secret@h:1", want: Endpoint{Addr: "h:1", Password: "secret"}},
		{in: "redis://secret@h:1", want: Endpoint{Addr: "h:1", Password: "secret"}},
		{in: "redis://[::1]:6380", want: Endpoint{Addr: "[::1]:6380"}},
		{in: "http://h:1", wantErr: "scheme"},
		{in: "redis://h:99999", wantErr: "port"},
		{in: "redis://h:1/x", wantErr: "db"},
		{in: "redis://:pw@:1", wantErr: "no host"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseURL(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseURL(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "pw") {
					t.Fatalf("error leaks the password: %v", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseURL(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
			if strings.Contains(got.String(), "secret") || strings.Contains(got.String(), "p@ss") {
				t.Fatalf("String() leaks the password: %s", got)
			}
		})
	}
}

func TestLoadPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "redferry.toml")
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := `source = "redis://a:1"
target = "redis://b:2"
state-dir = "/from/file"
batch-commands = 10
on-target-error = "log"
target-password-file = "` + pwFile + `"
`
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"REDFERRY_STATE_DIR": "/from/env", "REDFERRY_BATCH_COMMANDS": "20", "REDFERRY_SOURCE_PASSWORD": "envpw"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }

	scratch := Default()
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	scratch.RegisterFlags(fs)
	if err := fs.Parse([]string{"--batch-commands", "30", "--once"}); err != nil {
		t.Fatal(err)
	}
	c, err := Load(file, lookup, fs)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct{ name, got, want string }{
		{"state-dir (env over file)", c.StateDir, "/from/env"},
		{"on-target-error (file over default)", c.OnTargetError, "log"},
		{"checkpoint (default)", c.Checkpoint, "target"},
		{"source-password (env)", c.SourcePassword, "envpw"},
		{"target-password (file)", c.TargetPassword, "from-file"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %q, want %q", ch.name, ch.got, ch.want)
		}
	}
	if c.BatchCommands != 30 || !c.Once {
		t.Errorf("flags not applied over env: batch-commands=%d once=%v", c.BatchCommands, c.Once)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	red := c.Redacted()
	if red["source-password"] != "***" || strings.Contains(strings.Join(values(red), " "), "envpw") {
		t.Fatalf("Redacted leaks a password: %v", red)
	}
}

func values(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func TestLoadFileRejectsUnknownKeys(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.toml")
	if err := os.WriteFile(file, []byte("stat-dir = \"/x\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := Default()
	err := c.LoadFile(file)
	if err == nil || !strings.Contains(err.Error(), "stat-dir") {
		t.Fatalf("LoadFile error = %v, want one naming stat-dir", err)
	}
}

func TestValidateNamesEveryProblem(t *testing.T) {
	c := Default()
	c.Target = "http://x"
	c.Checkpoint = "disk"
	c.FlushTarget, c.Merge = true, true
	c.BatchCommands = 0
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate accepted a broken config")
	}
	for _, name := range []string{"source:", "target:", "checkpoint:", "flush-target:", "batch-commands:"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("Validate error does not name %s:\n%v", name, err)
		}
	}
}

func TestExampleConfigIsValid(t *testing.T) {
	c := Default()
	if err := c.LoadFile("../../configs/redferry.toml"); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("configs/redferry.toml does not validate: %v", err)
	}
	// Every setting is documented in the example.
	b, _ := os.ReadFile("../../configs/redferry.toml")
	for _, s := range c.settings() {
		if !strings.Contains(string(b), s.name+" =") && !strings.Contains(string(b), "# "+s.name+" =") {
			t.Errorf("configs/redferry.toml does not document %s", s.name)
		}
	}
}

// TestUnholdablePolicy: the on-unholdable-* settings make the policy;
// on-unknown-module, their former name for modules, still works, and
// clashing with on-unholdable-module is an error.
func TestUnholdablePolicy(t *testing.T) {
	tests := []struct {
		name    string
		set     func(c *Config)
		module  unholdable.Action
		wantErr string
	}{
		{"defaults", func(c *Config) {}, unholdable.Stop, ""},
		{"new name", func(c *Config) { c.OnUnholdableModule = "skip" }, unholdable.Skip, ""},
		{"former name", func(c *Config) { c.OnUnknownModule = "skip" }, unholdable.Skip, ""},
		{"former name, error", func(c *Config) { c.OnUnknownModule = "error" }, unholdable.Stop, ""},
		{"both agree", func(c *Config) { c.OnUnknownModule, c.OnUnholdableModule = "skip", "skip" }, unholdable.Skip, ""},
		{"both clash", func(c *Config) { c.OnUnknownModule, c.OnUnholdableModule = "error", "skip" }, "", "set only on-unholdable-module"},
		{"no convert for functions", func(c *Config) { c.OnUnholdableFunctions = "convert" }, "", "on-unholdable-functions"},
		{"former name, bad value", func(c *Config) { c.OnUnknownModule = "stop" }, "", "on-unknown-module"},
	}
	for _, tc := range tests {
		c := Default()
		c.Source, c.Target = "redis://127.0.0.1:1", "redis://127.0.0.1:2"
		tc.set(&c)
		p, err := c.UnholdablePolicy()
		verr := c.Validate()
		if tc.wantErr != "" {
			if verr == nil || !strings.Contains(verr.Error(), tc.wantErr) {
				t.Errorf("%s: Validate = %v, want an error naming %q", tc.name, verr, tc.wantErr)
			}
			continue
		}
		if err != nil || verr != nil || p.Action(unholdable.Module) != tc.module {
			t.Errorf("%s: policy %+v, %v; Validate %v; want module %s", tc.name, p, err, verr, tc.module)
		}
	}
}
