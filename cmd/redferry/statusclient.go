package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/redferry/redferry/pkg/config"
)

// statusClient finds the running sync's status server the way the sync
// reads its settings (--config file, REDFERRY_* variables, flags), and, for
// requests that change state, its token.
type statusClient struct {
	cmd        *cobra.Command
	configFile string
	withToken  bool
	addr       string // after resolve
	token      string // after resolve, withToken only
}

// newStatusClient adds --config, --status-addr and, withToken,
// --status-token-file to cmd.
func newStatusClient(cmd *cobra.Command, withToken bool) *statusClient {
	c := &statusClient{cmd: cmd, withToken: withToken}
	fl := cmd.Flags()
	configHelp := "TOML config file of the sync: its status-addr is used"
	if withToken {
		configHelp = "TOML config file of the sync: its status-addr and status token are used"
	}
	fl.StringVar(&c.configFile, "config", "", configHelp)
	// Named as the settings, so config.LoadSettings applies them.
	fl.String("status-addr", "", "the sync's status address (default: REDFERRY_STATUS_ADDR, else "+config.Default().StatusAddr+")")
	if withToken {
		fl.String("status-token-file", "", "file holding the sync's status token, sent as Authorization: Bearer (default: REDFERRY_STATUS_TOKEN_FILE, REDFERRY_STATUS_TOKEN)")
	}
	return c
}

// resolve reads the settings; call it once the flags are parsed.
func (c *statusClient) resolve() error {
	cfg, err := config.LoadSettings(c.configFile, os.LookupEnv, c.cmd.Flags())
	if err != nil {
		return err
	}
	c.addr = cfg.StatusAddr
	if c.addr == "" { // the sync's status server is off, or the variable is empty: try the default
		c.addr = config.Default().StatusAddr
	}
	if c.withToken {
		if err := cfg.ResolveStatusToken(); err != nil {
			return err
		}
		c.token = cfg.StatusToken
	}
	return nil
}

// newRequest is a request to path on the status server, with the token if any.
func (c *statusClient) newRequest(method, path string) (*http.Request, error) {
	req, err := http.NewRequest(method, "http://"+c.addr+path, nil)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return req, nil
}

// post asks the running sync for action (POST /<action>?q: cutover,
// rollback), waiting up to wait for the answer, and decodes it into res.
// A refusal is returned with the sync's own reason.
func (c *statusClient) post(action string, q url.Values, wait time.Duration, res any) error {
	req, err := c.newRequest(http.MethodPost, "/"+action+"?"+q.Encode())
	if err != nil {
		return fmt.Errorf("status-addr %s: %w", c.addr, err)
	}
	resp, err := (&http.Client{Timeout: wait}).Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the sync's status server at %s (is `redferry sync` running with this status-addr?): %w", c.addr, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s failed: %s", action, e.Error)
		}
		return fmt.Errorf("%s failed: HTTP %s: %s", action, resp.Status, body)
	}
	if err := json.Unmarshal(body, res); err != nil {
		return fmt.Errorf("%s: unexpected answer: %w", action, err)
	}
	return nil
}
