package checkpoint

// The keys of a rollback-ready cutover (redferry cutover --keep-rollback),
// named after the forward sync's checkpoint key so that verify and the
// forward sync ignore them as they ignore the checkpoint itself.

// ReverseKey is the key, in the old source, holding the checkpoint of the
// reverse link (target → old source) of the sync whose checkpoint key is key.
func ReverseKey(key string) string { return key + ":reverse" }

// RolledBackKey is the key, in the old source, holding where the forward sync
// resumes after a rollback: the old source's offset once the reverse link had
// applied everything, so that the forward sync skips the reverse link's own
// writes instead of copying them to the target a second time.
func RolledBackKey(key string) string { return key + ":rolled-back" }

// CutoverKey is the key recording a rollback-ready cutover: in the target,
// written in db 0 just before the target's offset is read, which makes the
// reverse link's first db certain (db 0); in the old source, with both
// offsets, once its writes are no longer paused.
func CutoverKey(key string) string { return key + ":cutover" }
