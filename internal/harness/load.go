package harness

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// LoadAverage reads the machine's 1-minute load average from
// /proc/loadavg, so a measurement can say how busy the machine was. It
// works only on Linux.
func LoadAverage() (float64, error) {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0, err
	}
	return parseLoadAverage(string(raw))
}

// parseLoadAverage reads the first field of /proc/loadavg, such as
// "3.12 2.80 2.41 4/812 12345".
func parseLoadAverage(s string) (float64, error) {
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return 0, fmt.Errorf("/proc/loadavg: empty")
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return 0, fmt.Errorf("/proc/loadavg: %w", err)
	}
	return v, nil
}
