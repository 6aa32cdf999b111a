package config

import (
	"fmt"
	"net"
	"os"
	"strings"
)

// MinStatusTokenLen is the shortest status token accepted: the token is all
// that stands between the network and a pause of the source's writes.
const MinStatusTokenLen = 16

// statusTokenHint says how to make a token, in errors.
const statusTokenHint = "e.g. `openssl rand -hex 32 > /etc/redferry/status.token`, then status-token-file = that file"

// ResolveStatusToken reads status-token-file, which overrides status-token.
// Surrounding white space (the file's newline) is not part of the token.
func (c *Config) ResolveStatusToken() error {
	if c.StatusTokenFile == "" {
		return nil
	}
	b, err := os.ReadFile(c.StatusTokenFile)
	if err != nil {
		return fmt.Errorf("status-token-file: %w", err)
	}
	c.StatusToken = strings.TrimSpace(string(b))
	if c.StatusToken == "" {
		return fmt.Errorf("status-token-file %s is empty: write the token into it (%s)", c.StatusTokenFile, statusTokenHint)
	}
	return nil
}

// ValidateStatusServer checks the settings of the status server, which can
// pause the source's writes (POST /cutover): beyond loopback it needs a token.
// Call it after ResolveStatusToken (Load does).
func (c *Config) ValidateStatusServer() error {
	if t := c.StatusToken; t != "" {
		if len(t) < MinStatusTokenLen {
			return fmt.Errorf("status-token: %d characters is too short, use at least %d (%s)", len(t), MinStatusTokenLen, statusTokenHint)
		}
		for _, r := range t {
			if r < 0x21 || r > 0x7e {
				return fmt.Errorf("status-token: use printable ASCII without spaces, as it travels in an HTTP header (%s)", statusTokenHint)
			}
		}
	}
	if c.StatusAddr == "" {
		return nil
	}
	loopback, err := IsLoopbackAddr(c.StatusAddr)
	if err != nil {
		return fmt.Errorf("status-addr: %w", err)
	}
	if !loopback && c.StatusToken == "" {
		return fmt.Errorf("status-addr %s listens beyond loopback and no status token is set, so anyone who reaches it could pause the source's writes (POST /cutover): "+
			"set status-token-file (env REDFERRY_STATUS_TOKEN_FILE) or REDFERRY_STATUS_TOKEN (%s), or set status-addr to 127.0.0.1:9470", c.StatusAddr, statusTokenHint)
	}
	return nil
}

// IsLoopbackAddr tells whether a listen address (host:port) takes
// connections from this machine only: a loopback IP or "localhost". An empty
// host, 0.0.0.0, ::, any other IP and any other name are not loopback.
func IsLoopbackAddr(addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, fmt.Errorf("%q is not host:port (e.g. 127.0.0.1:9470): %w", addr, err)
	}
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true, nil
	}
	host, _, _ = strings.Cut(host, "%") // an IPv6 zone: fe80::1%eth0
	ip := net.ParseIP(host)
	if ip == nil {
		// A name other than localhost may resolve to any interface.
		return false, nil
	}
	return ip.IsLoopback(), nil
}
