package sentinel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
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

// answerGrace is how long newestMaster waits for the other sentinels once
// one has answered: a sentinel that is down or cut off must not hold up
// every connection for a dial timeout.
const answerGrace = 300 * time.Millisecond

// newestMaster asks every sentinel at once and returns the view with the
// highest epoch among those that answered by answerGrace after the first
// one; it fails only when none answers.
func newestMaster(ctx context.Context, cfg Config) (master, error) {
	if len(cfg.Addrs) == 0 || cfg.MasterName == "" {
		return master{}, errors.New("sentinel: no sentinel address or no master name")
	}
	type answer struct {
		i   int
		m   master
		err error
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // the late ones give up
	answers := make(chan answer, len(cfg.Addrs))
	for i, s := range cfg.Addrs {
		go func() {
			m, err := askMaster(ctx, cfg, s)
			answers <- answer{i, m, err}
		}()
	}
	var (
		best      master
		bestIndex = -1
		errs      []error
		grace     <-chan time.Time
	)
	for pending := len(cfg.Addrs); pending > 0; pending-- {
		var a answer
		select {
		case a = <-answers:
		case <-grace:
			return best, nil
		case <-ctx.Done():
			if bestIndex >= 0 {
				return best, nil
			}
			return master{}, ctx.Err()
		}
		if a.err != nil {
			errs = append(errs, a.err)
			continue
		}
		// Of equal epochs, the sentinel listed first wins: answers in the
		// same state do not depend on who was quicker.
		if bestIndex < 0 || a.m.epoch > best.epoch || a.m.epoch == best.epoch && a.i < bestIndex {
			best, bestIndex = a.m, a.i
		}
		if grace == nil {
			t := time.NewTimer(answerGrace)
			defer t.Stop()
			grace = t.C
		}
	}
	if bestIndex < 0 {
		return master{}, fmt.Errorf("no sentinel named the master %q: %w", cfg.MasterName, errors.Join(errs...))
	}
	return best, nil
}
