package syncer

import (
	"bufio"
	"context"
	"fmt"
	"io"

	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/spool"
	"github.com/redferry/redferry/protocol"
)

// repairStreamTail cuts a torn command off the end of the spooled stream.
// The spool writes in buffer-sized pieces, so a process killed between two
// writes leaves part of a command at the end. PSYNC asks the source for the
// bytes after End, so End must fall between two commands: otherwise the
// source's stream starts mid-command and the spool holds a command made of
// two halves. from is an offset known to start a command (the checkpoint or
// the snapshot's offset); the stream is parsed from there to its end.
func (s *Syncer) repairStreamTail(ctx context.Context, from int64) error {
	end := s.spool.End()
	if from >= end || from < s.spool.Start() {
		return nil
	}
	r, err := s.spool.NewReader(from)
	if err != nil {
		return fmt.Errorf("checking the spooled stream from offset %d: %w", from, err)
	}
	defer r.Close()
	cr := protocol.NewCommandReader(bufio.NewReaderSize(&boundedReader{ctx: ctx, r: r, end: end}, 1<<20), protocol.Limits{})
	for {
		_, err := cr.ReadCommand()
		if err == nil {
			continue
		}
		good := from + cr.Consumed()
		if good == end {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.log.Warn("the spooled stream ends inside a command (the process was killed while writing it): "+
			"cutting it off, the source sends it again", zap.Int64("offset", good), zap.Int64("bytes_dropped", end-good),
			zap.NamedError("parse", err))
		if err := s.spool.Truncate(good); err != nil {
			return fmt.Errorf("cutting the torn end of the spooled stream at offset %d: %w", good, err)
		}
		return nil
	}
}

// boundedReader reads a spool reader up to end, then says io.EOF instead of
// waiting for more bytes.
type boundedReader struct {
	ctx context.Context
	r   *spool.Reader
	end int64
}

func (b *boundedReader) Read(p []byte) (int, error) {
	left := b.end - b.r.Offset()
	if left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > left {
		p = p[:left]
	}
	return b.r.Read(b.ctx, p)
}
