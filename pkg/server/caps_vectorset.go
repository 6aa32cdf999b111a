package server

// VectorSetNodesV1 reports whether the server loads vector set values whose
// HNSW nodes are in serialization version 1, which Redis 8.0.6 and 8.6
// write (DUMP, RDB): Redis 8.0.2 loads only version 0 and refuses the value
// ("Bad data format"). 8.0.3 to 8.0.5 are taken as 8.0.6 (not measured).
func (in Info) VectorSetNodesV1() bool {
	return in.VectorSets() && (in.Version.AtLeast(8, 1) || in.Version.Patch >= 3)
}
