package main

import (
	"github.com/redferry/redferry/pkg/config"
	"github.com/redferry/redferry/pkg/server"
	"github.com/redferry/redferry/sink"
)

// targetSinkConfig is cfg with the target's address: its host:port, or for
// a sentinel-managed target (redis+sentinel://) the master the sentinels
// name at the first connection, held on to: a restore or a scan has no
// checkpoint to continue from on a new master, so a failover stops it with
// sink.ErrTargetMoved rather than let it go on where writes may be missing.
func targetSinkConfig(ep config.Endpoint, ctl server.ClientOptions, cfg sink.Config) sink.Config {
	cfg.Addr = ep.Addr
	if r := ctl.MasterResolver(); r != nil {
		cfg.Addr, cfg.Resolve = ep.String(), sink.Bound(r)
	}
	return cfg
}
