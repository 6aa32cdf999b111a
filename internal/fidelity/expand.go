package fidelity

import (
	"context"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// doer runs one command: a connection of the source with the entry's db
// selected.
type doer interface {
	Do(ctx context.Context, args ...any) *redis.Cmd
}

// expander resolves the placeholders of an entry's commands (see Cmd).
type expander struct {
	entry Entry
	src   doer
	now   func() time.Time
	// functionDump is what "@functiondump" saved ("" when nothing was).
	functionDump string
}

// args resolves the placeholders of c into arguments for Do.
func (x *expander) args(ctx context.Context, c Cmd) ([]any, error) {
	out := make([]any, len(c))
	for i, a := range c {
		v, err := x.arg(ctx, a)
		if err != nil {
			return nil, fmt.Errorf("argument %d %q: %w", i, a, err)
		}
		out[i] = v
	}
	return out, nil
}

func (x *expander) arg(ctx context.Context, a string) (string, error) {
	a = strings.ReplaceAll(a, "{k}", x.entry.KeyPrefix())
	a = strings.ReplaceAll(a, "{lib}", x.entry.Library())
	inner, ok := strings.CutPrefix(a, "{")
	if !ok || !strings.HasSuffix(inner, "}") {
		return a, nil
	}
	inner = inner[:len(inner)-1]
	kind, rest, _ := strings.Cut(inner, ":")
	switch {
	case strings.HasPrefix(inner, "unixms+"), strings.HasPrefix(inner, "unixms-"):
		n, err := strconv.ParseInt(inner[len("unixms"):], 10, 64)
		if err != nil {
			return "", err
		}
		return strconv.FormatInt(x.now().UnixMilli()+n, 10), nil
	case strings.HasPrefix(inner, "unix+"), strings.HasPrefix(inner, "unix-"):
		n, err := strconv.ParseInt(inner[len("unix"):], 10, 64)
		if err != nil {
			return "", err
		}
		return strconv.FormatInt(x.now().Unix()+n, 10), nil
	case kind == "dump":
		return x.src.Do(ctx, "DUMP", rest).Text()
	case kind == "digest":
		return x.src.Do(ctx, "DIGEST", rest).Text()
	case inner == "functiondump":
		if x.functionDump != "" {
			return x.functionDump, nil
		}
		return x.src.Do(ctx, "FUNCTION", "DUMP").Text()
	case kind == "sha1":
		sum := sha1.Sum([]byte(rest))
		return hex.EncodeToString(sum[:]), nil
	case kind == "fp32":
		var b []byte
		for _, f := range strings.Split(rest, ",") {
			v, err := strconv.ParseFloat(f, 32)
			if err != nil {
				return "", err
			}
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(v)))
		}
		return string(b), nil
	}
	return a, nil // not a placeholder: JSON text, a script …
}

// runnerSide runs a Cmd whose name starts with "@"; ok is false for any
// other Cmd.
func (x *expander) runnerSide(ctx context.Context, c Cmd) (ok bool, err error) {
	if len(c) == 0 || !strings.HasPrefix(c[0], "@") {
		return false, nil
	}
	switch c[0] {
	case "@sleep":
		if len(c) != 2 {
			return true, fmt.Errorf("@sleep takes milliseconds, got %q", c)
		}
		ms, err := strconv.Atoi(c[1])
		if err != nil {
			return true, fmt.Errorf("@sleep %q: %w", c[1], err)
		}
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
		case <-ctx.Done():
			return true, ctx.Err()
		}
		return true, nil
	case "@functiondump":
		d, err := x.src.Do(ctx, "FUNCTION", "DUMP").Text()
		if err != nil {
			return true, fmt.Errorf("FUNCTION DUMP: %w", err)
		}
		x.functionDump = d
		return true, nil
	}
	return true, fmt.Errorf("unknown runner command %q", c[0])
}
