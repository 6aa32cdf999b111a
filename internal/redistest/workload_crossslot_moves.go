package redistest

import (
	"context"
	"math/rand"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// CrossSlotMovesLoad writes ops operations of the commands a Redis 6.0
// target lacks and the Translator writes as scripts (COPY, LMOVE in every
// direction, ZRANGESTORE, ZDIFFSTORE, GEOSEARCHSTORE BYBOX and BYRADIUS),
// their keys mostly in different slots and sometimes in one (a hash tag),
// with the writes that feed them. The source must be Redis 6.2+ or Valkey.
func CrossSlotMovesLoad(ctx context.Context, c *redis.Client, r *rand.Rand, ops int) error {
	key := func(ns string) string {
		if r.Intn(4) == 0 { // one slot: the scripts run as they are
			return "{c}:" + ns + ":" + strconv.Itoa(r.Intn(8))
		}
		return CrossSlotKey(ns, r.Intn(crossSlotKeys))
	}
	sides := []string{"LEFT", "RIGHT"}
	for range ops {
		var err error
		switch r.Intn(10) {
		case 0:
			err = c.ZAdd(ctx, key("z"), redis.Z{Score: float64(r.Intn(50)), Member: strconv.Itoa(r.Intn(30))}).Err()
		case 1:
			err = c.GeoAdd(ctx, key("g"), &redis.GeoLocation{Name: strconv.Itoa(r.Intn(30)),
				Longitude: 13 + r.Float64(), Latitude: 52 + r.Float64()}).Err()
		case 2:
			err = c.RPush(ctx, key("l"), r.Intn(1000), r.Intn(1000)).Err()
		case 3:
			err = c.Copy(ctx, key("z"), key("y"), 0, true).Err()
		case 4:
			if src, dst := key("l"), key("l"); src != dst { // COPY k k is an error
				err = c.Copy(ctx, src, dst, 0, r.Intn(2) == 0).Err()
			}
		case 5:
			err = c.LMove(ctx, key("l"), key("l"), sides[r.Intn(2)], sides[r.Intn(2)]).Err()
		case 6:
			err = c.ZRangeStore(ctx, key("y"), redis.ZRangeArgs{Key: key("z"), Start: 0, Stop: int64(r.Intn(10))}).Err()
		case 7:
			err = c.ZDiffStore(ctx, key("y"), key("z"), key("z")).Err()
		case 8:
			err = c.GeoSearchStore(ctx, key("g"), key("y"), &redis.GeoSearchStoreQuery{GeoSearchQuery: redis.GeoSearchQuery{
				Longitude: 13.5, Latitude: 52.5, BoxWidth: 80, BoxHeight: 60, BoxUnit: "km"}, StoreDist: r.Intn(2) == 0}).Err()
		case 9:
			err = c.GeoSearchStore(ctx, key("g"), key("y"), &redis.GeoSearchStoreQuery{GeoSearchQuery: redis.GeoSearchQuery{
				Longitude: 13.5, Latitude: 52.5, Radius: 40, RadiusUnit: "km", Sort: "ASC", Count: 5}}).Err()
		}
		if err != nil && err != redis.Nil {
			return err
		}
	}
	return nil
}
