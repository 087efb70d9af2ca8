package bench

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"time"
)

// measurement brackets the measured part of a run: it samples the
// process's CPU time and, with Config.CPUProfile, writes a CPU profile of
// exactly that part (with Config.MemProfile, a heap profile at its end) (in-process clusters included, so the profile shows
// where the broker, raft and the client spend their time).
type measurement struct {
	cpu0    time.Duration
	cpuOK   bool
	profile *os.File
	// memProfile is where a heap profile is written when the run ends.
	memProfile string
}

func (s *session) beginMeasure() (*measurement, error) {
	m := &measurement{memProfile: s.cfg.MemProfile}
	if s.cfg.CPUProfile != "" {
		f, err := os.Create(s.cfg.CPUProfile)
		if err != nil {
			return nil, fmt.Errorf("%w: cpu profile: %w", ErrSetup, err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("%w: cpu profile: %w", ErrSetup, err)
		}
		m.profile = f
	}
	m.cpu0, m.cpuOK = processCPU()
	return m, nil
}

// end stops the profile and records the CPU time used in the result.
func (m *measurement) end(r *Result) {
	if cpu1, ok := processCPU(); ok && m.cpuOK {
		r.CPU = cpu1 - m.cpu0
	}
	if m.profile != nil {
		pprof.StopCPUProfile()
		_ = m.profile.Close()
	}
	if m.memProfile != "" {
		if f, err := os.Create(m.memProfile); err == nil {
			runtime.GC() // up-to-date statistics of what is live
			_ = pprof.WriteHeapProfile(f)
			_ = f.Close()
		}
	}
}
