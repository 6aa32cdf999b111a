package fidelity

// Geo commands: GEOADD's conditions and the commands that store a search
// result (as a sorted set of geohashes or of distances).
func geoEntries() []Entry {
	places := []Cmd{{"GEOADD", "{k}a", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania", "12.496366", "41.902782", "Rome"}}
	georadius := func(name string, opts ...string) Entry {
		run := append(Cmd{"GEORADIUS", "{k}a", "15", "37"}, opts...)
		return Entry{Name: name, Command: "georadius", Setup: places, Run: []Cmd{run}}
	}
	return []Entry{
		{Name: "geoadd", Command: "geoadd", Run: places},
		{Name: "geoadd.nx", Command: "geoadd", Setup: places, Run: []Cmd{{"GEOADD", "{k}a", "NX", "0", "0", "Palermo", "1", "1", "Null"}}},
		{Name: "geoadd.xx.ch", Command: "geoadd", Setup: places, Run: []Cmd{{"GEOADD", "{k}a", "XX", "CH", "0", "0", "Palermo", "1", "1", "Null"}}},
		georadius("georadius.store.km", "200", "KM", "STORE", "{k}dst"),
		georadius("georadius.storedist.m", "200000", "M", "STOREDIST", "{k}dst"),
		georadius("georadius.store.mi.count.any", "150", "MI", "COUNT", "1", "ANY", "STORE", "{k}dst"),
		georadius("georadius.storedist.ft.desc", "700000", "FT", "DESC", "STOREDIST", "{k}dst"),
		georadius("georadius.store.asc.count", "600", "KM", "ASC", "COUNT", "2", "STORE", "{k}dst"),
		{Name: "georadiusbymember.store", Command: "georadiusbymember", Setup: places,
			Run: []Cmd{{"GEORADIUSBYMEMBER", "{k}a", "Palermo", "200", "KM", "STORE", "{k}dst"}}},
		{Name: "georadiusbymember.storedist.mi.desc.count.any", Command: "georadiusbymember", Setup: places,
			Run: []Cmd{{"GEORADIUSBYMEMBER", "{k}a", "Palermo", "500", "MI", "DESC", "COUNT", "2", "ANY", "STOREDIST", "{k}dst"}}},
		{Name: "georadiusbymember.ft.asc", Command: "georadiusbymember", Setup: places,
			Run: []Cmd{{"GEORADIUSBYMEMBER", "{k}a", "Rome", "2000000", "FT", "ASC", "STORE", "{k}dst"}}},
		{Name: "georadiusbymember.m", Command: "georadiusbymember", Setup: places,
			Run: []Cmd{{"GEORADIUSBYMEMBER", "{k}a", "Rome", "1000", "M", "STORE", "{k}dst"}}},
		{Name: "geosearchstore.frommember.byradius", Command: "geosearchstore", Setup: places,
			Run: []Cmd{{"GEOSEARCHSTORE", "{k}dst", "{k}a", "FROMMEMBER", "Palermo", "BYRADIUS", "200", "KM", "ASC"}}},
		{Name: "geosearchstore.fromlonlat.bybox.storedist", Command: "geosearchstore", Setup: places,
			Run: []Cmd{{"GEOSEARCHSTORE", "{k}dst", "{k}a", "FROMLONLAT", "15", "37", "BYBOX", "400", "400", "KM", "DESC", "COUNT", "2", "ANY", "STOREDIST"}}},
		{Name: "geosearchstore.bybox.m", Command: "geosearchstore", Setup: places,
			Run: []Cmd{{"GEOSEARCHSTORE", "{k}dst", "{k}a", "FROMLONLAT", "15", "37", "BYBOX", "400000", "400000", "M"}}},
		{Name: "geosearchstore.byradius.mi", Command: "geosearchstore", Setup: places,
			Run: []Cmd{{"GEOSEARCHSTORE", "{k}dst", "{k}a", "FROMMEMBER", "Rome", "BYRADIUS", "400", "MI", "COUNT", "1"}}},
		{Name: "geosearchstore.byradius.ft", Command: "geosearchstore", Setup: places,
			Run: []Cmd{{"GEOSEARCHSTORE", "{k}dst", "{k}a", "FROMMEMBER", "Rome", "BYRADIUS", "1500000", "FT", "STOREDIST"}}},
		{Name: "geosearchstore.bypolygon", Command: "geosearchstore", Setup: places,
			Run: []Cmd{{"GEOSEARCHSTORE", "{k}dst", "{k}a", "BYPOLYGON", "4", "12", "36", "16", "36", "16", "39", "12", "39"}}},
	}
}

// HyperLogLog commands. PFCOUNT is a read, but Redis 6.0 propagates it
// (it may update the cached cardinality); PFDEBUG TODENSE changes the
// encoding.
func hllEntries() []Entry {
	h := []Cmd{{"PFADD", "{k}a", "a", "b", "c"}, {"PFADD", "{k}b", "c", "d"}}
	return []Entry{
		{Name: "pfadd", Command: "pfadd", Run: []Cmd{{"PFADD", "{k}a", "x", "y", "z"}}},
		{Name: "pfadd.empty", Command: "pfadd", Run: []Cmd{{"PFADD", "{k}a"}}},
		{Name: "pfmerge", Command: "pfmerge", Setup: h, Run: []Cmd{{"PFMERGE", "{k}dst", "{k}a", "{k}b"}}},
		{Name: "pfcount", Command: "pfcount", Setup: h, Run: []Cmd{{"PFCOUNT", "{k}a"}}},
		{Name: "pfdebug.todense", Command: "pfdebug", Setup: h, Run: []Cmd{{"PFDEBUG", "TODENSE", "{k}a"}}},
	}
}

// Vector sets (Redis 8.0+): VADD with every vector form and option, VREM,
// VSETATTR.
func vectorEntries() []Entry {
	v := []Cmd{{"VADD", "{k}a", "VALUES", "3", "1", "0", "0", "e1"}, {"VADD", "{k}a", "VALUES", "3", "0", "1", "0", "e2", "SETATTR", `{"n":2}`}}
	vadd := func(name string, setup []Cmd, args ...string) Entry {
		return Entry{Name: name, Command: "vadd", Setup: setup, Run: []Cmd{append(Cmd{"VADD", "{k}a"}, args...)}}
	}
	return []Entry{
		vadd("vadd", nil, "VALUES", "3", "0.5", "0.25", "1", "e1"),
		vadd("vadd.fp32", nil, "FP32", "{fp32:0.5,0.25,1}", "e1"),
		vadd("vadd.reduce", nil, "REDUCE", "2", "VALUES", "4", "1", "2", "3", "4", "e1"),
		vadd("vadd.cas", v, "VALUES", "3", "1", "1", "0", "e3", "CAS"),
		vadd("vadd.noquant", nil, "VALUES", "3", "0.1", "0.2", "0.3", "e1", "NOQUANT"),
		vadd("vadd.bin", nil, "VALUES", "3", "1", "-1", "1", "e1", "BIN"),
		vadd("vadd.q8.ef.m", nil, "VALUES", "3", "0.1", "0.2", "0.3", "e1", "Q8", "EF", "100", "M", "8"),
		vadd("vadd.setattr", v, "VALUES", "3", "1", "1", "1", "e3", "SETATTR", `{"color":"red"}`),
		vadd("vadd.update", v, "VALUES", "3", "0", "0", "1", "e1"),
		{Name: "vrem", Command: "vrem", Setup: v, Run: []Cmd{{"VREM", "{k}a", "e1"}}},
		{Name: "vrem.last", Command: "vrem", Setup: []Cmd{{"VADD", "{k}a", "VALUES", "2", "1", "0", "e1"}}, Run: []Cmd{{"VREM", "{k}a", "e1"}}},
		{Name: "vsetattr", Command: "vsetattr", Setup: v, Run: []Cmd{{"VSETATTR", "{k}a", "e1", `{"n":1,"s":"x"}`}}},
		{Name: "vsetattr.clear", Command: "vsetattr", Setup: v, Run: []Cmd{{"VSETATTR", "{k}a", "e2", ""}}},
	}
}
