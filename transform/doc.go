// Package transform is the stage between decoding and the sink: it turns
// what the source sent into commands the target accepts. Snapshot keys are
// rebuilt from rdbparse events (Rebuilder) or sent as RESTORE payloads
// (Restorer); commands of the live stream are rewritten for the target's
// version (Translator). Filter, pure and shared by sync, restore and verify,
// decides which keys and commands are copied and into which target db.
// Everything it writes goes into a sink.Batch.
package transform
