package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"github.com/redferry/redferry/pkg/sentinel"
)

// sentinelDialer connects to the master the sentinels name at the time of
// each dial: a connection made after a failover reaches the new master.
func sentinelDialer(o ClientOptions) func(ctx context.Context, network, _ string) (net.Conn, error) {
	return func(ctx context.Context, network, _ string) (net.Conn, error) {
		addr, err := sentinel.MasterAddr(ctx, *o.Sentinel)
		if err != nil {
			return nil, err
		}
		timeout := o.DialTimeout
		if timeout <= 0 {
			timeout = 5 * time.Second
		}
		d := &net.Dialer{Timeout: timeout}
		var c net.Conn
		if o.TLS == nil {
			c, err = d.DialContext(ctx, network, addr)
		} else {
			c, err = (&tls.Dialer{NetDialer: d, Config: o.TLS}).DialContext(ctx, network, addr)
		}
		if err != nil {
			return nil, fmt.Errorf("the master %s named by the sentinels: %w", addr, err)
		}
		return c, nil
	}
}

// Name is the server for messages: its address, or the sentinel-managed
// master's name and sentinels.
func (o ClientOptions) Name() string {
	if o.Sentinel != nil {
		return o.Sentinel.String()
	}
	return o.Addr
}

// MasterResolver asks the sentinels for the master, for a connection of
// one's own (nil when o is not sentinel-managed).
func (o ClientOptions) MasterResolver() func(ctx context.Context) (string, error) {
	if o.Sentinel == nil {
		return nil
	}
	cfg := *o.Sentinel
	return func(ctx context.Context) (string, error) { return sentinel.MasterAddr(ctx, cfg) }
}
