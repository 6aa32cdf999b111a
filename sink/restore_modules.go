package sink

import (
	"context"
	"fmt"
	"strings"
)

// ProbeKey is where ProbeRestore tries a payload; it is deleted at once.
const ProbeKey = "redferry:restore-probe"

// ProbeRestore tells whether the target can load a DUMP payload (a module
// value): it RESTOREs it into a scratch key of the current db and deletes
// it again. The RDB names a module's data type ("ReJSON-RL"), not the
// module, and MODULE LIST also shows built-ins that hold no data type
// (Valkey's "lua"), so only the target itself can tell. ok false comes
// with the target's reason.
//
// Redis before 7.0 exits (!) on a RESTORE of a module value whose module it
// lacks, so there no probe is sent: a target with no module loaded cannot
// load it, one with modules is assumed to have the right one.
func (s *Standalone) ProbeRestore(ctx context.Context, payload []byte) (ok bool, reason string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.ensureConn(ctx); err != nil {
		return false, "", err
	}
	if !s.info.Functions() { // Redis before 7.0
		has, err := s.hasModules()
		if err != nil || has {
			return has, "", err
		}
		return false, "no module loaded: MODULE LIST is empty", nil
	}
	r, err := s.conn.do("RESTORE", ProbeKey, "0", string(payload), "REPLACE")
	if err != nil {
		s.dropConn()
		return false, "", err
	}
	if r.isError() {
		msg := string(r.Line)
		if strings.HasPrefix(msg, "NOAUTH") || strings.HasPrefix(msg, "NOPERM") || strings.HasPrefix(msg, "READONLY") {
			return false, "", fmt.Errorf("sink: RESTORE on %s: %s", s.cfg.Addr, msg)
		}
		return false, msg, nil
	}
	if _, err := s.conn.do("DEL", ProbeKey); err != nil {
		s.dropConn()
		return false, "", err
	}
	return true, "", nil
}

// hasModules reports whether MODULE LIST is not empty.
func (s *Standalone) hasModules() (bool, error) {
	r, err := s.conn.do("MODULE", "LIST")
	if err != nil {
		s.dropConn()
		return false, err
	}
	switch {
	case r.isError():
		return false, fmt.Errorf("sink: MODULE LIST on %s: %s", s.cfg.Addr, r.Line)
	case r.Type != respArray:
		return false, fmt.Errorf("sink: MODULE LIST on %s: unexpected reply type %c", s.cfg.Addr, r.Type)
	}
	return r.N > 0, nil
}
