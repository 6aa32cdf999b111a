package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// TestStatusServerNeedsATokenBeyondLoopback: a status address that other
// machines can reach is refused without a token, with an error saying what
// to set; loopback works without one.
func TestStatusServerNeedsATokenBeyondLoopback(t *testing.T) {
	const token = "0123456789abcdef0123"
	tests := []struct {
		addr, token string
		wantErr     string // "" accepted
	}{
		{addr: "127.0.0.1:9470"},
		{addr: "127.0.0.2:9470"},
		{addr: "[::1]:9470"},
		{addr: "localhost:9470"},
		{addr: "LOCALHOST:0"},
		{addr: ""}, // off
		{addr: "0.0.0.0:9470", wantErr: "status-token-file"},
		{addr: "[::]:9470", wantErr: "status-token-file"},
		{addr: ":9470", wantErr: "status-token-file"},
		{addr: "192.168.1.10:9470", wantErr: "listens beyond loopback"},
		{addr: "[fe80::1%eth0]:9470", wantErr: "REDFERRY_STATUS_TOKEN"},
		{addr: "redferry.example.com:9470", wantErr: "127.0.0.1:9470"},
		{addr: "localhost.example.com:9470", wantErr: "status-token-file"},
		{addr: "0.0.0.0:9470", token: token},
		{addr: "[::]:9470", token: token},
		{addr: "redferry.example.com:9470", token: token},
		{addr: "127.0.0.1:9470", token: token},
		{addr: "0.0.0.0:9470", token: "xyz123", wantErr: "too short"},
		{addr: "127.0.0.1:9470", token: "with a space in it, long enough", wantErr: "printable ASCII"},
		{addr: "9470", wantErr: "not host:port"},
	}
	for _, tc := range tests {
		t.Run(tc.addr+"/"+tc.token, func(t *testing.T) {
			c := Default()
			c.StatusAddr, c.StatusToken = tc.addr, tc.token
			err := c.ValidateStatusServer()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("ValidateStatusServer: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("ValidateStatusServer error = %v, want one containing %q", err, tc.wantErr)
			}
			if tc.token != "" && strings.Contains(err.Error(), tc.token) {
				t.Fatalf("the error shows the token: %v", err)
			}
		})
	}
}

// TestStatusTokenSources: the token comes from REDFERRY_STATUS_TOKEN or from
// status-token-file (which wins, without its newline), and is masked in the
// settings logged at start.
func TestStatusTokenSources(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "status.token")
	if err := os.WriteFile(file, []byte("from-the-file-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		env       map[string]string
		flags     []string
		wantToken string
		wantErr   string
	}{
		{name: "environment", env: map[string]string{"REDFERRY_STATUS_TOKEN": "from-the-env-0123456789"}, wantToken: "from-the-env-0123456789"},
		{name: "file by environment", env: map[string]string{"REDFERRY_STATUS_TOKEN_FILE": file}, wantToken: "from-the-file-0123456789"},
		{name: "file by flag over the variable", env: map[string]string{"REDFERRY_STATUS_TOKEN": "from-the-env-0123456789"}, flags: []string{"--status-token-file", file}, wantToken: "from-the-file-0123456789"},
		{name: "missing file", flags: []string{"--status-token-file", filepath.Join(dir, "nope")}, wantErr: "status-token-file"},
		{name: "empty file", flags: []string{"--status-token-file", empty}, wantErr: "is empty"},
		{name: "none", wantToken: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			scratch := Default()
			fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
			scratch.RegisterFlags(fs)
			if err := fs.Parse(tc.flags); err != nil {
				t.Fatal(err)
			}
			lookup := func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }
			c, err := Load("", lookup, fs)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Load error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.StatusToken != tc.wantToken {
				t.Fatalf("status token = %q, want %q", c.StatusToken, tc.wantToken)
			}
			if red := c.Redacted(); tc.wantToken != "" && (red["status-token"] != "***" || strings.Contains(strings.Join(values(red), " "), tc.wantToken)) {
				t.Fatalf("Redacted shows the token: %v", red)
			}
		})
	}
}
