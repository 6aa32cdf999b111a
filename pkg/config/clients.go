package config

import (
	"crypto/tls"
	"fmt"

	"github.com/redferry/redferry/pkg/sentinel"
	"github.com/redferry/redferry/pkg/server"
)

// SourceClient is how to reach the source for control-plane calls
// (server.NewClient): its address, credentials, TLS and the timeouts.
func (c *Config) SourceClient() (server.ClientOptions, error) {
	return c.clientOptions("source", c.SourceEndpoint, c.SourceTLS)
}

// TargetClient is SourceClient for the target.
func (c *Config) TargetClient() (server.ClientOptions, error) {
	return c.clientOptions("target", c.TargetEndpoint, c.TargetTLS)
}

func (c *Config) clientOptions(side string, endpoint func() (Endpoint, error), tlsFn func() (*tls.Config, error)) (server.ClientOptions, error) {
	ep, err := endpoint()
	if err != nil {
		return server.ClientOptions{}, fmt.Errorf("%s: %w", side, err)
	}
	tc, err := tlsFn()
	if err != nil {
		return server.ClientOptions{}, err
	}
	o := server.ClientOptions{Addr: ep.Addr, Username: ep.Username, Password: ep.Password, TLS: tc,
		DialTimeout: c.DialTimeout, IOTimeout: c.IOTimeout}
	if s := ep.Sentinel; s != nil {
		o.Sentinel = &sentinel.Config{Addrs: s.Addrs, MasterName: s.MasterName, Username: s.Username, Password: s.Password,
			TLS: tc, DialTimeout: c.DialTimeout, IOTimeout: c.IOTimeout}
	}
	return o, nil
}
