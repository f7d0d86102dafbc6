package deliveryfn

import "time"

// SetNow replaces the clock of s, for tests of its cache.
func (s *SecretKey) SetNow(now func() time.Time) { s.now = now }
