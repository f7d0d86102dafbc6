//go:build !race

package privacy_test

const raceEnabled = false
