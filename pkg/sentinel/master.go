package sentinel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
)

// master is one sentinel's view of the master: where it is and the
// configuration epoch of that view (a failover raises it), so that of two
// sentinels that disagree during a failover the newer view wins.
type master struct {
	addr  string
	epoch int64
}

// askMaster asks one sentinel for its view (SENTINEL MASTER <name>).
func askMaster(ctx context.Context, cfg Config, sentinel string) (master, error) {
	c, err := dial(ctx, cfg, sentinel)
	if err != nil {
		return master{}, err
	}
	defer c.close()
	r, err := c.do(ctx, "SENTINEL", "MASTER", cfg.MasterName)
	var se serverError
	if errors.As(err, &se) && (se.hasPrefix("NOPERM") || strings.Contains(strings.ToLower(string(se)), "unknown")) && !strings.Contains(string(se), "No such master") {
		// An ACL that allows only the address query: no epoch then.
		addr, err := askAddr(ctx, c, sentinel, cfg.MasterName)
		return master{addr: addr}, err
	}
	if err != nil {
		if errors.Is(err, ErrAuth) {
			return master{}, fmt.Errorf("sentinel %s: %w", sentinel, err)
		}
		if errors.As(err, &se) && strings.Contains(string(se), "No such master") {
			return master{}, fmt.Errorf("sentinel %s: %w %q (check the master name in the URL path)", sentinel, ErrUnknownMaster, cfg.MasterName)
		}
		return master{}, fmt.Errorf("sentinel %s: SENTINEL MASTER %s: %w", sentinel, cfg.MasterName, err)
	}
	return parseMaster(sentinel, texts(r))
}

// parseMaster reads SENTINEL MASTER's flat list of field names and values.
func parseMaster(sentinel string, fields []string) (master, error) {
	var ip, port, epoch string
	for i := 0; i+1 < len(fields); i += 2 {
		switch fields[i] {
		case "ip":
			ip = fields[i+1]
		case "port":
			port = fields[i+1]
		case "config-epoch":
			epoch = fields[i+1]
		}
	}
	if ip == "" || port == "" {
		return master{}, fmt.Errorf("sentinel %s: SENTINEL MASTER names no ip and port: %q", sentinel, fields)
	}
	m := master{addr: net.JoinHostPort(ip, port)}
	if epoch != "" {
		n, err := strconv.ParseInt(epoch, 10, 64)
		if err != nil {
			return master{}, fmt.Errorf("sentinel %s: SENTINEL MASTER config-epoch %q is not a number", sentinel, epoch)
		}
		m.epoch = n
	}
	return m, nil
}

// newestMaster asks every sentinel at once and returns the view with the
// highest epoch; it fails only when none answers.
func newestMaster(ctx context.Context, cfg Config) (master, error) {
	if len(cfg.Addrs) == 0 || cfg.MasterName == "" {
		return master{}, errors.New("sentinel: no sentinel address or no master name")
	}
	type answer struct {
		m   master
		err error
	}
	answers := make([]answer, len(cfg.Addrs))
	var wg sync.WaitGroup
	for i, s := range cfg.Addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, err := askMaster(ctx, cfg, s)
			answers[i] = answer{m, err}
		}()
	}
	wg.Wait()
	var best master
	found := false
	var errs []error
	for _, a := range answers { // in the order given: of equal epochs, the first listed wins
		if a.err != nil {
			errs = append(errs, a.err)
			continue
		}
		if !found || a.m.epoch > best.epoch {
			best, found = a.m, true
		}
	}
	if !found {
		return master{}, fmt.Errorf("no sentinel named the master %q: %w", cfg.MasterName, errors.Join(errs...))
	}
	return best, nil
}
