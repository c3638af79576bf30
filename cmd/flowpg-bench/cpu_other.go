//go:build !unix

package main

import "time"

// cpuTime is not measured here; batch rows then show 0 ms of CPU.
func cpuTime() time.Duration { return 0 }
