package presence

import "time"

// Clock is the time source of the Tracker and the stores (timestamps, grace
// timers, memory heartbeats). Tests inject a fake one.
type Clock interface {
	Now() time.Time
	// AfterFunc runs f in its own goroutine after d, like time.AfterFunc.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is the handle returned by Clock.AfterFunc.
type Timer interface {
	// Stop prevents the call; it reports false if f already started or ran.
	Stop() bool
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }
