package server

import (
	"fmt"
	"strconv"
	"strings"
)

// Version is major.minor.patch.
type Version struct{ Major, Minor, Patch int }

func (v Version) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// AtLeast reports whether v >= major.minor.
func (v Version) AtLeast(major, minor int) bool {
	return v.Major > major || v.Major == major && v.Minor >= minor
}

// IsZero reports whether no version was set.
func (v Version) IsZero() bool { return v == Version{} }

// ParseVersion parses "7.2.4" (missing parts are 0).
func ParseVersion(s string) (Version, error) {
	var v Version
	parts := strings.SplitN(strings.TrimSpace(s), ".", 3)
	dst := []*int{&v.Major, &v.Minor, &v.Patch}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return Version{}, fmt.Errorf("server: bad version %q", s)
		}
		*dst[i] = n
	}
	return v, nil
}

// valkeyRedisCompat is the redis_version every Valkey reports.
var valkeyRedisCompat = Version{Major: 7, Minor: 2, Patch: 4}

// Named is the Info of a server named like "redis-7.0" or "valkey-9.1.2", as
// the server itself would report it: for answers about a server that is not
// at hand (rdb inspect --for, tests).
func Named(name string) (Info, error) {
	family, ver, ok := strings.Cut(name, "-")
	v, err := ParseVersion(ver)
	if !ok || err != nil || family != Redis && family != Valkey {
		return Info{}, fmt.Errorf("server: %q is no server name: give redis-X.Y or valkey-X.Y", name)
	}
	in := Info{Family: family, Version: v, RedisCompat: v}
	if family == Valkey {
		in.RedisCompat = valkeyRedisCompat
	}
	return in, nil
}
