package redisadapter

import "testing"

func TestKeySlot(t *testing.T) {
	for key, want := range map[string]int{"foo": 12182, "{foo}bar": 12182, "123456789": 12739, "a{}b": keySlot("a{}b"), "": 0} {
		if got := keySlot(key); got != want {
			t.Errorf("keySlot(%q) = %d, want %d", key, got, want)
		}
	}
}
