package sentinel

import (
	"context"
	"errors"
	"fmt"
	"net"
)

// ErrUnknownMaster: a sentinel does not monitor a master of that name.
var ErrUnknownMaster = errors.New("the sentinel monitors no master of that name")

// MasterAddr asks every sentinel at once for the master (SENTINEL MASTER, or
// SENTINEL GET-MASTER-ADDR-BY-NAME where an ACL allows only that) and
// returns the address in the view with the newest configuration epoch: of
// sentinels that disagree during a failover, the one that saw it wins. It
// fails when none answers, saying why for each.
func MasterAddr(ctx context.Context, cfg Config) (string, error) {
	m, err := newestMaster(ctx, cfg)
	return m.addr, err
}

// askAddr asks one sentinel for the address alone.
func askAddr(ctx context.Context, c *conn, sentinel, name string) (string, error) {
	r, err := c.do(ctx, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", name)
	if err != nil {
		return "", fmt.Errorf("sentinel %s: SENTINEL GET-MASTER-ADDR-BY-NAME %s: %w", sentinel, name, err)
	}
	return parseMasterAddr(sentinel, name, r.null, texts(r))
}

// parseMasterAddr reads the answer: [ip, port], or null for a name the
// sentinel does not monitor.
func parseMasterAddr(sentinel, name string, null bool, fields []string) (string, error) {
	if null {
		return "", fmt.Errorf("sentinel %s: %w %q (check the master name in the URL path)", sentinel, ErrUnknownMaster, name)
	}
	if len(fields) != 2 || fields[0] == "" || fields[1] == "" {
		return "", fmt.Errorf("sentinel %s: SENTINEL GET-MASTER-ADDR-BY-NAME %s: unexpected answer %q", sentinel, name, fields)
	}
	return net.JoinHostPort(fields[0], fields[1]), nil
}
