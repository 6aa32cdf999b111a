package sink

import "testing"

func TestKeySlot(t *testing.T) {
	// Values from CLUSTER KEYSLOT.
	for _, tc := range []struct {
		key  string
		slot int
	}{
		{"foo", 12182},
		{"bar", 5061},
		{"{user1000}.following", 3443},
		{"{user1000}.followers", 3443},
		{"foo{}{bar}", 8363},
		{"foo{{bar}}zap", 4015},
		{"foo{bar}{zap}", 5061},
		{"", 0},
	} {
		if got := KeySlot([]byte(tc.key)); got != tc.slot {
			t.Errorf("KeySlot(%q) = %d, want %d", tc.key, got, tc.slot)
		}
	}
}

func TestTagForSlot(t *testing.T) {
	for _, slot := range []int{0, 1, 5460, 5461, 10922, 16383} {
		tag := TagForSlot(slot)
		if got := KeySlot([]byte("redferry:checkpoint:x{" + tag + "}")); got != slot {
			t.Errorf("TagForSlot(%d) = %q, whose slot is %d", slot, tag, got)
		}
	}
}

func TestSlotTags(t *testing.T) {
	tags := slotTags()
	for slot, tag := range tags {
		if got := KeySlot([]byte("k{" + tag + "}")); got != slot {
			t.Fatalf("slotTags()[%d] = %q, whose slot is %d", slot, tag, got)
		}
	}
}
