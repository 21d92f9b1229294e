package main

import "testing"

// TestPprofOnlyOnLoopback: the profiling endpoint is off by default and
// never binds beyond loopback, where anyone could read the manager's heap.
func TestPprofOnlyOnLoopback(t *testing.T) {
	for addr, ok := range map[string]bool{
		"0":              true,
		"127.0.0.1:6060": true,
		"[::1]:6060":     true,
		"localhost:6060": true,
		":6060":          false,
		"0.0.0.0:6060":   false,
		"10.0.0.7:6060":  false,
		"":               true,
	} {
		if err := checkPprofAddress(addr); (err == nil) != ok {
			t.Errorf("checkPprofAddress(%q) = %v, want accepted %v", addr, err, ok)
		}
	}
}
