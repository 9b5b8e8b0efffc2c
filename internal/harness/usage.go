package harness

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Usage is a process's resource use as the kernel accounts it.
type Usage struct {
	// CPU is user plus system time since the process started.
	CPU time.Duration
	// RSS is the resident set size now, in bytes.
	RSS uint64
	// PeakRSS is the largest RSS so far (VmHWM), in bytes.
	PeakRSS uint64
}

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat.
// It is 100 on every Linux architecture Go supports; reading it with
// sysconf would need cgo.
const clockTicks = 100

// ReadUsage reads the CPU time and memory of a running process from
// /proc. It works only on Linux.
func ReadUsage(pid int) (Usage, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return Usage{}, err
	}
	// The command name (field 2) may hold spaces and parentheses, so the
	// fields are counted from the last ')'.
	end := bytes.LastIndexByte(stat, ')')
	if end < 0 {
		return Usage{}, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	fields := strings.Fields(string(stat[end+1:]))
	// After the name: state(3) ... utime(14) stime(15), so indexes 11 and 12.
	if len(fields) < 13 {
		return Usage{}, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(fields))
	}
	utime, err1 := strconv.ParseUint(fields[11], 10, 64)
	stime, err2 := strconv.ParseUint(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return Usage{}, fmt.Errorf("/proc/%d/stat: bad utime or stime", pid)
	}
	u := Usage{CPU: time.Duration(utime+stime) * time.Second / clockTicks}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Usage{}, err
	}
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		switch key {
		case "VmRSS":
			u.RSS = parseKB(val)
		case "VmHWM":
			u.PeakRSS = parseKB(val)
		}
	}
	return u, nil
}

// parseKB parses a /proc/<pid>/status size such as "  123456 kB".
func parseKB(s string) uint64 {
	n, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(s), " kB"), 10, 64)
	return n * 1024
}
