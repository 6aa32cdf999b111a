// Package interlock refuses, before anything is written, the pairs of
// servers for which a sync, a restore or a verify would do harm or mean
// nothing: a target that is the source under another address, a target
// that replicates from the source (or from one of its replicas), a source
// that replicates from the target (a loop), a restore into a replica, and a
// verify of a server against itself. Servers are told apart by what they
// say they are (INFO run_id, CLUSTER NODES ids), never by address strings:
// 127.0.0.1, localhost and another interface address of one server are one
// server. There is no override: none of these is ever what a user meant.
package interlock

import (
	"context"
	"errors"

	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/server"
)

// ErrRefused marks every refusal: the servers given must not be used that way.
var ErrRefused = errors.New("safety interlock")

// Endpoint is one side: how to reach it, and its name for messages (a URL
// without the password).
type Endpoint struct {
	Name   string
	Client server.ClientOptions
}

// CheckSync refuses a sync from source into target when the target is the
// source (or shares a cluster node with it), when the target is a replica
// (of the source, of one of the source's replicas, or of any server: a
// replica refuses or later drops what is written to it), or when the
// source replicates from the target. log gets the warnings for what could
// not be checked (nil: none).
func CheckSync(ctx context.Context, source, target Endpoint, log *zap.Logger) error {
	p := newProber(source.Client, target.Client)
	src, dst, err := p.sides(ctx, source, target)
	if err != nil {
		return err
	}
	if err := sameServer(src, dst, purposeSync); err != nil {
		return err
	}
	if dst.info.Role == roleReplica {
		if err := targetIsReplica(src, dst, p.masters(ctx, dst), purposeSync); err != nil {
			return err
		}
	}
	if src.info.Role == roleReplica && !src.info.ClusterEnabled {
		chain := p.masters(ctx, src)
		if err := sourceReplicatesFromTarget(src, dst, chain); err != nil {
			return err
		}
		if n := len(chain); n > 0 && chain[n-1].err != nil && log != nil {
			log.Warn("the source is a replica whose primary could not be reached: cannot tell whether it replicates from the target",
				zap.String("source", src.name), zap.String("primary", chain[n-1].addr), zap.Error(chain[n-1].err))
		}
	}
	return nil
}

// CheckRestore refuses a restore into a replica: it refuses writes
// (read-only) or drops them at its next resync, and --flush-target would
// empty one copy of its primary's data.
func CheckRestore(ctx context.Context, target Endpoint) error {
	p := newProber(target.Client)
	dst, err := p.side(ctx, target)
	if err != nil {
		return err
	}
	if dst.info.Role != roleReplica {
		return nil
	}
	return targetIsReplica(side{}, dst, p.masters(ctx, dst), purposeRestore)
}

// CheckVerify refuses to compare a server (or a cluster) with itself: it
// would report "equal" whatever the data.
func CheckVerify(ctx context.Context, source, target Endpoint) error {
	p := newProber(source.Client, target.Client)
	src, dst, err := p.sides(ctx, source, target)
	if err != nil {
		return err
	}
	return sameServer(src, dst, purposeVerify)
}
