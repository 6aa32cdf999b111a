package verify

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// compareVectorSet compares a vector set (Redis 8.0+): cardinality,
// dimension, quantization, and each element's vector (VEMB) and
// attributes (VGETATTR). Elements are paged with VRANGE (Redis 8.2+);
// before it, VRANDMEMBER lists them all at once.
func (c *comparer) compareVectorSet(ctx context.Context, key string) (*mismatch, error) {
	for _, cmd := range []string{"VCARD", "VDIM"} {
		a, err := c.src.Do(ctx, cmd, key).Int64()
		if err != nil {
			return nil, fmt.Errorf("source %s: %w", cmd, err)
		}
		b, err := c.dst.Do(ctx, cmd, key).Int64()
		if err != nil {
			return nil, fmt.Errorf("target %s: %w", cmd, err)
		}
		if a != b {
			return mis(KindValue, "%s %d in source, %d in target", cmd, a, b), nil
		}
	}
	sInfo, err := vinfo(ctx, c.src, key)
	if err != nil {
		return nil, fmt.Errorf("source VINFO: %w", err)
	}
	dInfo, err := vinfo(ctx, c.dst, key)
	if err != nil {
		return nil, fmt.Errorf("target VINFO: %w", err)
	}
	if a, b := str(sInfo["quant-type"]), str(dInfo["quant-type"]); a != b {
		return mis(KindValue, "quantization %s in source, %s in target", a, b), nil
	}
	var m *mismatch
	err = c.vectorElements(ctx, key, func(elems []string) (bool, error) {
		for _, e := range elems {
			if m, err = c.compareVectorElement(ctx, key, e); m != nil || err != nil {
				return false, err
			}
		}
		return true, nil
	})
	return m, err
}

func vinfo(ctx context.Context, cl conn, key string) (map[string]any, error) {
	v, err := cl.Do(ctx, "VINFO", key).Result()
	if err != nil {
		return nil, err
	}
	return flatMap(v)
}

// vectorElements calls each with pages of the source's elements until it
// returns false.
func (c *comparer) vectorElements(ctx context.Context, key string, each func([]string) (bool, error)) error {
	start := "-"
	for {
		page, err := c.src.Do(ctx, "VRANGE", key, start, "+", c.opt.BatchSize).StringSlice()
		if err != nil && start == "-" && isUnknownCommand(err) {
			all, err := c.src.Do(ctx, "VRANDMEMBER", key, 1<<31-1).StringSlice()
			if err != nil {
				return fmt.Errorf("source VRANDMEMBER: %w", err)
			}
			_, err = each(all)
			return err
		}
		if err != nil {
			return fmt.Errorf("source VRANGE: %w", err)
		}
		if len(page) == 0 {
			return nil
		}
		if more, err := each(page); !more || err != nil {
			return err
		}
		if len(page) < c.opt.BatchSize {
			return nil
		}
		start = "(" + page[len(page)-1]
	}
}

func isUnknownCommand(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && strings.Contains(strings.ToLower(re.Error()), "unknown command")
}

func (c *comparer) compareVectorElement(ctx context.Context, key, elem string) (*mismatch, error) {
	a, err := c.src.Do(ctx, "VEMB", key, elem).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("source VEMB: %w", err)
	}
	b, err := c.dst.Do(ctx, "VEMB", key, elem).StringSlice()
	if errors.Is(err, redis.Nil) || err == nil && len(b) == 0 {
		return mis(KindValue, "element %.40q missing in target", elem), nil
	}
	if err != nil {
		return nil, fmt.Errorf("target VEMB: %w", err)
	}
	if strings.Join(a, ",") != strings.Join(b, ",") {
		return mis(KindValue, "element %.40q vector [%s] in source, [%s] in target", elem, strings.Join(a, ","), strings.Join(b, ",")), nil
	}
	sa, err := vgetattr(ctx, c.src, key, elem)
	if err != nil {
		return nil, fmt.Errorf("source VGETATTR: %w", err)
	}
	da, err := vgetattr(ctx, c.dst, key, elem)
	if err != nil {
		return nil, fmt.Errorf("target VGETATTR: %w", err)
	}
	if sa != da {
		return mis(KindValue, "element %.40q attributes %.60q in source, %.60q in target", elem, sa, da), nil
	}
	return nil, nil
}

// vgetattr is an element's attributes ("" when it has none).
func vgetattr(ctx context.Context, cl conn, key, elem string) (string, error) {
	s, err := cl.Do(ctx, "VGETATTR", key, elem).Text()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	return s, err
}
