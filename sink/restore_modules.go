package sink

import (
	"context"
	"fmt"
)

// HasModules reports whether the target has any module loaded (MODULE
// LIST is not empty). A module value is RESTOREd only into such a target:
// the RDB names a module's data type (e.g. "ReJSON-RL"), not the module,
// so the target alone can tell whether it knows the type.
func (s *Standalone) HasModules(ctx context.Context) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.ensureConn(ctx); err != nil {
		return false, err
	}
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
