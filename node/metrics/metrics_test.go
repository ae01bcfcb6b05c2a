package metrics

import (
	"testing"
	"time"
)

// TestObserveDoesNotAllocate: the hooks run once per connect, broadcast,
// publish, request and webhook; they must cost atomic adds, no garbage.
// An unknown hook type is counted as "other", so the label stays bounded.
func TestObserveDoesNotAllocate(t *testing.T) {
	m := New()
	for name, fn := range map[string]func(){
		"connect":   func() { m.ObserveConnect(time.Millisecond, true) },
		"refused":   func() { m.ObserveConnect(time.Millisecond, false) },
		"broadcast": func() { m.ObserveBroadcast(time.Microsecond) },
		"publish":   func() { m.ObservePublish(time.Millisecond) },
		"request":   func() { m.ObserveRequest(time.Millisecond) },
		"hook":      func() { m.ObserveHook("event", time.Millisecond) },
		"other":     func() { m.ObserveHook("surprise", time.Millisecond) },
	} {
		if n := testing.AllocsPerRun(100, fn); n != 0 {
			t.Errorf("%s: %v allocations per observation", name, n)
		}
	}
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]uint64{}
	for _, mf := range fams {
		if mf.GetName() != NameBackendHook {
			continue
		}
		for _, s := range mf.GetMetric() {
			counts[s.GetLabel()[0].GetValue()] = s.GetHistogram().GetSampleCount()
		}
	}
	if counts["event"] < 100 || counts["other"] < 100 || counts["connect"] != 0 || len(counts) != len(hookTypes)+1 {
		t.Errorf("hook observations by label: %v", counts)
	}
}
