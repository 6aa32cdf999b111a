package rdbparse

import "testing"

func TestCRC64Jones(t *testing.T) {
	// The check value from Redis' crc64.c test.
	if got := crc64Update(0, []byte("123456789")); got != 0xe9c6d914c4b8d9ca {
		t.Fatalf("crc64(123456789) = %#x, want 0xe9c6d914c4b8d9ca", got)
	}
	// Splitting the input must not change the result.
	data := []byte("This is a test of the emergency broadcast system.")
	want := crc64Update(0, data)
	for i := range data {
		if got := crc64Update(crc64Update(0, data[:i]), data[i:]); got != want {
			t.Fatalf("split at %d: %#x != %#x", i, got, want)
		}
	}
}
