//go:build race

package privacy_test

// raceEnabled: the race detector makes sync.Pool drop items at random, so
// pooled buffers are sometimes allocated afresh.
const raceEnabled = true
