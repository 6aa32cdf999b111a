// Package transform is the stage between decoding and the sink: it turns
// what the source sent into commands the target accepts. Snapshot keys are
// rebuilt from rdbparse events (Rebuilder) or sent as RESTORE payloads
// (Restorer); commands of the live stream are rewritten for the target's
// version (Translator). Everything it writes goes into a sink.Batch.
package transform
