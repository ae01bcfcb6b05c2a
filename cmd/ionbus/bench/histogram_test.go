package bench

import (
	"math"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"
)

func TestBucketLayout(t *testing.T) {
	prevHi := uint64(0)
	for i := 0; i < histBuckets; i++ {
		lo, hi := bucketRange(i)
		if i > 0 && lo != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, previous ended at %d", i, lo, prevHi)
		}
		if bucketOf(lo) != i || bucketOf(hi) != i {
			t.Fatalf("bucket %d [%d,%d] maps to %d/%d", i, lo, hi, bucketOf(lo), bucketOf(hi))
		}
		if lo >= histSub && float64(hi-lo)/float64(lo) > 1.0/histHalf+1e-9 {
			t.Fatalf("bucket %d too wide: [%d,%d]", i, lo, hi)
		}
		prevHi = hi
		if hi == math.MaxUint64 {
			break
		}
	}
	if bucketOf(math.MaxInt64) >= histBuckets {
		t.Fatal("max int64 out of range")
	}
}

// Percentiles must match the exact order statistics of the samples within
// the bucket precision.
func TestHistogramQuantilesMatchSortedSamples(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	h := NewHistogram()
	var samples []int64
	for i := 0; i < 100000; i++ {
		// log-normal-ish latencies between ~10µs and ~10s
		v := int64(math.Exp(r.NormFloat64()*1.5+math.Log(2e6))) + 1
		samples = append(samples, v)
		h.Record(time.Duration(v))
	}
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
		exact := samples[int(math.Ceil(q*float64(len(samples))))-1]
		got := int64(h.Quantile(q))
		if rel := math.Abs(float64(got-exact)) / float64(exact); rel > 0.005 {
			t.Errorf("q%v = %d, exact %d (rel err %.4f)", q, got, exact, rel)
		}
	}
	s := h.Summary()
	if s.Count != 100000 || s.MinMS != float64(samples[0])/1e6 || s.MaxMS != float64(samples[len(samples)-1])/1e6 {
		t.Errorf("summary count/min/max = %d %v %v", s.Count, s.MinMS, s.MaxMS)
	}
}

func TestHistogramSmallAndEdgeValues(t *testing.T) {
	h := NewHistogram()
	if h.Quantile(0.99) != 0 || h.Summary().Count != 0 {
		t.Fatal("empty histogram not zero")
	}
	h.Record(-5) // clock skew clamps to 0
	h.Record(3)
	h.Record(time.Millisecond)
	if got := h.Quantile(0); got != 0 {
		t.Errorf("q0 = %v", got)
	}
	if got := h.Quantile(0.5); got != 3 {
		t.Errorf("q50 = %v", got)
	}
	if got := h.Quantile(1); got != time.Millisecond {
		t.Errorf("q100 = %v (clamped to max)", got)
	}
}

func TestHistogramConcurrentRecordAndMerge(t *testing.T) {
	a, b := NewHistogram(), NewHistogram()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 1; i <= 1000; i++ {
				a.Record(time.Duration(i) * time.Microsecond)
				b.Record(time.Duration(i) * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	if a.Count() != 8000 || b.Count() != 8000 {
		t.Fatalf("counts %d %d", a.Count(), b.Count())
	}
	a.Merge(b)
	if a.Count() != 16000 {
		t.Fatalf("merged count %d", a.Count())
	}
	if got := a.Quantile(1); got != time.Second {
		t.Errorf("merged max %v", got)
	}
	if got := a.Quantile(0); got != time.Microsecond {
		t.Errorf("merged min %v", got)
	}
	// p75 of the union lies in b's half: 500ms.
	if got := a.Quantile(0.75); got < 497*time.Millisecond || got > 503*time.Millisecond {
		t.Errorf("merged p75 %v", got)
	}
}

// A summary carries enough to rebuild the histogram exactly.
func TestHistogramSummaryRoundTrip(t *testing.T) {
	h := NewHistogram()
	for i := 1; i <= 5000; i++ {
		h.Record(time.Duration(i*i) * time.Microsecond)
	}
	s := h.Summary()
	back := histogramFromSummary(s).Summary()
	if back.P50MS != s.P50MS || back.P99MS != s.P99MS || back.P999MS != s.P999MS || back.Count != s.Count {
		t.Errorf("round trip changed percentiles: %+v vs %+v", back, s)
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	h := NewHistogram()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		d := time.Duration(1)
		for pb.Next() {
			h.Record(d)
			d = (d*7 + 13) % (10 * time.Second)
		}
	})
}
