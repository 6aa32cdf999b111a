package scan

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/redferry/redferry/rdbparse"
)

// copyFunctions makes the target's function libraries the source's:
// FUNCTION LOAD REPLACE of each source library (an error for a target
// without functions, as in sync), and, unless merging, FUNCTION DELETE of
// the target's libraries the source does not have. Libraries change
// without a keyspace notification: this runs at each pass and when INFO
// commandstats shows a FUNCTION LOAD, DELETE, FLUSH or RESTORE.
func (s *scanner) copyFunctions(ctx context.Context) error {
	s.functions = false
	if !s.srcInfo.Functions() {
		return nil
	}
	libs, err := s.nodes[0].c.db(0).FunctionList(ctx, redis.FunctionListQuery{WithCode: true}).Result()
	if err != nil {
		if refused(err) {
			s.log.Warn("the source refuses FUNCTION LIST: function libraries are not copied", zap.Error(err))
			return nil
		}
		return fmt.Errorf("FUNCTION LIST on the source: %w", err)
	}
	have := map[string]bool{}
	for _, l := range libs {
		have[l.Name] = true
		ev := rdbparse.Event{Kind: rdbparse.KindFunction, Value: []byte(l.Code), Offset: s.w.seq}
		if err := s.w.rebuild.Handle(&ev, &s.w.b); err != nil {
			return fmt.Errorf("function library %q: %w", l.Name, err)
		}
	}
	if s.st.Server().Functions() && !s.opt.Merge {
		theirs, err := s.dstNodes[0].db(0).FunctionList(ctx, redis.FunctionListQuery{}).Result()
		if err != nil {
			return fmt.Errorf("FUNCTION LIST on the target: %w", err)
		}
		for _, l := range theirs {
			if !have[l.Name] {
				s.w.b.AddStrings(s.w.seq, "FUNCTION", "DELETE", l.Name)
			}
		}
	}
	return s.w.flush(ctx)
}
