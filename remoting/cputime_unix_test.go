//go:build unix

package remoting

import (
	"syscall"
	"time"
)

// processCPU returns the user+system CPU time of this process (all threads,
// GC included). Benchmarks report it per op as "cpu-ns/op", which other
// processes competing for the CPUs do not inflate the way they do ns/op.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
