// Package sentinel finds the master of a sentinel-managed Redis or Valkey
// deployment (SENTINEL GET-MASTER-ADDR-BY-NAME, asking each sentinel in
// turn) and tells when it changes (+switch-master, and a poll in case a
// message is missed).
package sentinel

import (
	"crypto/tls"
	"strings"
	"time"
)

// Config says how to reach the sentinels of one master.
type Config struct {
	Addrs      []string // the sentinels, host:port, asked in this order
	MasterName string   // the name the sentinels monitor the master under
	// Username and Password authenticate to the sentinels (their own
	// requirepass or ACL user), not to the data nodes; empty: no AUTH.
	Username, Password string
	// TLS, when set, is used for the sentinels as for the data nodes
	// (rediss+sentinel://). An empty ServerName is the host dialled.
	TLS         *tls.Config
	DialTimeout time.Duration // per sentinel; 0: 2 s
	IOTimeout   time.Duration // per reply; 0: 2 s
}

// String names the deployment for logs: never a password.
func (c Config) String() string {
	return c.MasterName + " (sentinels " + strings.Join(c.Addrs, ",") + ")"
}

func (c Config) dialTimeout() time.Duration {
	if c.DialTimeout > 0 {
		return min(c.DialTimeout, 5*time.Second)
	}
	return 2 * time.Second
}

func (c Config) ioTimeout() time.Duration {
	if c.IOTimeout > 0 {
		return min(c.IOTimeout, 5*time.Second)
	}
	return 2 * time.Second
}
