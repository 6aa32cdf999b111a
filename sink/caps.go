package sink

import (
	"fmt"
	"strconv"
	"strings"
)

// Caps says what a target server supports, from its INFO server section.
type Caps struct {
	Server string // "redis" or "valkey"
	// Redis is the redis_version (Valkey 8+ reports 7.2.4 there).
	Redis Version
	// Valkey is the valkey_version; zero for Redis.
	Valkey Version
}

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
			return Version{}, fmt.Errorf("sink: bad version %q", s)
		}
		*dst[i] = n
	}
	return v, nil
}

// ParseCaps parses the text of INFO server.
func ParseCaps(info string) (Caps, error) {
	c := Caps{Server: "redis"}
	var haveRedis bool
	for _, line := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		var err error
		switch k {
		case "redis_version":
			c.Redis, err = ParseVersion(v)
			haveRedis = true
		case "valkey_version":
			c.Valkey, err = ParseVersion(v)
			c.Server = "valkey"
		case "server_name":
			if v == "valkey" {
				c.Server = "valkey"
			}
		}
		if err != nil {
			return Caps{}, err
		}
	}
	if !haveRedis {
		return Caps{}, fmt.Errorf("sink: INFO server has no redis_version")
	}
	if c.Server == "valkey" && c.Valkey.IsZero() {
		c.Valkey = c.Redis // Valkey 7.2 reported only redis_version
	}
	return c, nil
}

func (c Caps) String() string {
	if c.Server == "valkey" {
		return "valkey " + c.Valkey.String()
	}
	return "redis " + c.Redis.String()
}

// SetPXAT: SET … PXAT/EXAT/GET (6.2+).
func (c Caps) SetPXAT() bool { return c.Redis.AtLeast(6, 2) }

// GetEx: GETEX, GETDEL (6.2+).
func (c Caps) GetEx() bool { return c.Redis.AtLeast(6, 2) }

// LMove: LMOVE, BLMOVE (6.2+).
func (c Caps) LMove() bool { return c.Redis.AtLeast(6, 2) }

// XAutoClaim: XAUTOCLAIM (6.2+).
func (c Caps) XAutoClaim() bool { return c.Redis.AtLeast(6, 2) }

// CreateConsumer: XGROUP CREATECONSUMER (6.2+).
func (c Caps) CreateConsumer() bool { return c.Redis.AtLeast(6, 2) }

// Functions: FUNCTION, FCALL (7.0+).
func (c Caps) Functions() bool { return c.Redis.AtLeast(7, 0) }

// StreamV2: XSETID ENTRIESADDED/MAXDELETEDID, XGROUP … ENTRIESREAD (7.0+).
func (c Caps) StreamV2() bool { return c.Redis.AtLeast(7, 0) }

// HashFieldTTL: HEXPIRE, HPEXPIREAT, HPERSIST… (Redis 7.4+, Valkey 9.0+).
func (c Caps) HashFieldTTL() bool {
	if c.Server == "valkey" {
		return c.Valkey.AtLeast(9, 0)
	}
	return c.Redis.AtLeast(7, 4)
}

// HSetEx: HSETEX, HGETEX (Redis 8.0+, Valkey 9.0+).
func (c Caps) HSetEx() bool {
	if c.Server == "valkey" {
		return c.Valkey.AtLeast(9, 0)
	}
	return c.Redis.AtLeast(8, 0)
}

// RDBVersion is the RDB version the target writes, which is also the
// highest DUMP payload version its RESTORE accepts (Valkey 9: 80, with
// 12–79 refused as foreign unless rdb-version-check is relaxed).
func (c Caps) RDBVersion() int {
	if c.Server == "valkey" {
		switch {
		case c.Valkey.AtLeast(9, 0):
			return 80
		case c.Valkey.AtLeast(7, 2):
			return 11
		}
	}
	v := c.Redis
	switch {
	case v.AtLeast(8, 6):
		return 13
	case v.AtLeast(7, 4):
		return 12
	case v.AtLeast(7, 2):
		return 11
	case v.AtLeast(7, 0):
		return 10
	case v.AtLeast(5, 0):
		return 9
	case v.AtLeast(4, 0):
		return 8
	case v.AtLeast(3, 2):
		return 7
	default:
		return 6
	}
}

// AcceptsRDB reports whether RESTORE takes a payload of RDB version v.
func (c Caps) AcceptsRDB(v int) bool {
	own := c.RDBVersion()
	if own == 80 {
		return v <= 11 || v == 80
	}
	return v <= own
}
