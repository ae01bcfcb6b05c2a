package bench

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram is a log-bucketed latency histogram in the HDR style: values
// (nanoseconds) below 256 get exact buckets, larger values are bucketed with
// 8 significant bits, so a reported percentile is within 0.4% of the true
// sample. Memory is fixed (about 58 KiB) whatever the number of samples, and
// Record is lock-free and safe for concurrent use.
//
// Histograms with the same layout merge exactly by adding bucket counts,
// which is what makes shard reports mergeable.
type Histogram struct {
	counts [histBuckets]atomic.Uint64
	total  atomic.Uint64
	sum    atomic.Uint64 // nanoseconds; wraps after ~584 years of samples
	min    atomic.Int64
	max    atomic.Int64
}

const (
	histSubBits = 8
	histSub     = 1 << histSubBits // exact buckets below this value
	histHalf    = histSub / 2
	histBuckets = histSub + (64-histSubBits)*histHalf
)

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram {
	h := &Histogram{}
	h.min.Store(math.MaxInt64)
	return h
}

func bucketOf(v uint64) int {
	if v < histSub {
		return int(v)
	}
	shift := bits.Len64(v) - histSubBits
	m := v >> uint(shift) // in [histHalf, histSub)
	return histSub + (shift-1)*histHalf + int(m) - histHalf
}

// bucketRange returns the inclusive value range of bucket i.
func bucketRange(i int) (lo, hi uint64) {
	if i < histSub {
		return uint64(i), uint64(i)
	}
	shift := (i-histSub)/histHalf + 1
	m := uint64((i-histSub)%histHalf + histHalf)
	lo = m << uint(shift)
	return lo, lo + (1 << uint(shift)) - 1
}

// Record adds one sample. Negative durations (clock skew between shards) count as 0.
func (h *Histogram) Record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	h.counts[bucketOf(uint64(v))].Add(1)
	h.total.Add(1)
	h.sum.Add(uint64(v))
	for {
		cur := h.min.Load()
		if v >= cur || h.min.CompareAndSwap(cur, v) {
			break
		}
	}
	for {
		cur := h.max.Load()
		if v <= cur || h.max.CompareAndSwap(cur, v) {
			break
		}
	}
}

// Count returns the number of samples.
func (h *Histogram) Count() uint64 { return h.total.Load() }

// Quantile returns the value at quantile q in [0,1] (0 when empty). The
// answer is the midpoint of the bucket holding the sample, clamped to the
// observed min and max.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.total.Load()
	switch {
	case n == 0:
		return 0
	case q <= 0:
		return time.Duration(h.min.Load())
	case q >= 1:
		return time.Duration(h.max.Load())
	}
	rank := uint64(math.Ceil(q * float64(n)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			lo, hi := bucketRange(i)
			v := int64(lo + (hi-lo)/2)
			return time.Duration(min(max(v, h.min.Load()), h.max.Load()))
		}
	}
	return time.Duration(h.max.Load())
}

// Merge adds every sample of o to h.
func (h *Histogram) Merge(o *Histogram) {
	for i := range o.counts {
		if c := o.counts[i].Load(); c != 0 {
			h.counts[i].Add(c)
		}
	}
	h.total.Add(o.total.Load())
	h.sum.Add(o.sum.Load())
	if o.total.Load() > 0 {
		h.mergeMinMax(o.min.Load(), o.max.Load())
	}
}

func (h *Histogram) mergeMinMax(lo, hi int64) {
	if lo < h.min.Load() {
		h.min.Store(lo)
	}
	if hi > h.max.Load() {
		h.max.Store(hi)
	}
}

// LatencySummary is the JSON form of a histogram: percentiles in
// milliseconds plus the sparse bucket counts needed to merge shard reports.
type LatencySummary struct {
	Count   uint64      `json:"count"`
	MinMS   float64     `json:"min_ms"`
	MeanMS  float64     `json:"mean_ms"`
	P50MS   float64     `json:"p50_ms"`
	P90MS   float64     `json:"p90_ms"`
	P99MS   float64     `json:"p99_ms"`
	P999MS  float64     `json:"p999_ms"`
	MaxMS   float64     `json:"max_ms"`
	Buckets [][2]uint64 `json:"buckets,omitempty"` // [bucket index, count], layout "log2-8bit-ns"
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// Summary snapshots the histogram.
func (h *Histogram) Summary() LatencySummary {
	n := h.total.Load()
	s := LatencySummary{Count: n}
	if n == 0 {
		return s
	}
	s.MinMS = ms(time.Duration(h.min.Load()))
	s.MaxMS = ms(time.Duration(h.max.Load()))
	s.MeanMS = float64(h.sum.Load()) / float64(n) / 1e6
	s.P50MS = ms(h.Quantile(0.50))
	s.P90MS = ms(h.Quantile(0.90))
	s.P99MS = ms(h.Quantile(0.99))
	s.P999MS = ms(h.Quantile(0.999))
	for i := range h.counts {
		if c := h.counts[i].Load(); c != 0 {
			s.Buckets = append(s.Buckets, [2]uint64{uint64(i), c})
		}
	}
	return s
}

// histogramFromSummary rebuilds a histogram from a report (for merging).
func histogramFromSummary(s LatencySummary) *Histogram {
	h := NewHistogram()
	for _, b := range s.Buckets {
		if b[0] < histBuckets {
			h.counts[b[0]].Add(b[1])
		}
	}
	h.total.Store(s.Count)
	h.sum.Store(uint64(s.MeanMS * 1e6 * float64(s.Count)))
	if s.Count > 0 {
		h.min.Store(int64(s.MinMS * 1e6))
		h.max.Store(int64(s.MaxMS * 1e6))
	}
	return h
}
