package devserver

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Resident describes the resident memory of this process and of the emulators beside it
// (residentMiB), as "name N MiB, …; total N MiB", and returns the total in MiB. Benchmarks
// and long test runs print it: docs/COST.md's figures and the memory bound of `make dev`.
func Resident() (string, float64) {
	mem := residentMiB()
	var parts []string
	total := 0.0
	for _, k := range slices.Sorted(maps.Keys(mem)) {
		parts = append(parts, fmt.Sprintf("%s %.0f MiB", k, mem[k]))
		total += mem[k]
	}
	return fmt.Sprintf("%s; total %.0f MiB", strings.Join(parts, ", "), total), total
}

// residentMiB returns the resident memory of this process and of the emulators started beside
// it by scripts/emulators (the children of this process's grandparent, on Linux), by command
// name, in MiB; nil where /proc cannot be read.
func residentMiB() map[string]float64 {
	stat := func(pid string) (name string, ppid string, rssPages int, ok bool) {
		b, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil {
			return "", "", 0, false
		}
		// pid (comm) state ppid ... field 24 is rss in pages.
		s := string(b)
		open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || closing < open {
			return "", "", 0, false
		}
		f := strings.Fields(s[closing+1:])
		if len(f) < 22 {
			return "", "", 0, false
		}
		rss, _ := strconv.Atoi(f[21])
		return s[open+1 : closing], f[1], rss, true
	}
	page := float64(os.Getpagesize()) / (1 << 20)
	out := map[string]float64{}
	_, parent, self, ok := stat(strconv.Itoa(os.Getpid()))
	if !ok {
		return nil
	}
	out["service (this process)"] = float64(self) * page
	_, runner, _, ok := stat(parent)
	if !ok {
		return out
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		name, ppid, rss, ok := stat(e.Name())
		if ok && ppid == runner && (strings.Contains(name, "python") || strings.Contains(name, "moto") || strings.Contains(name, "local-kms")) {
			out[name] += float64(rss) * page
		}
	}
	return out
}
