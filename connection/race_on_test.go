//go:build race

package connection

// raceEnabled: the race detector slows everything about tenfold; load
// tests scale down.
const raceEnabled = true
