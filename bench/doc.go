// Package bench holds `make bench`: redferry measured side by side with the
// servers' own replication and raw ingest, on real servers (bench_test.go).
// It has no non-test code; this file only names the package.
package bench
