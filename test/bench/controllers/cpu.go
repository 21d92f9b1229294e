package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// clockTicks is the kernel's USER_HZ, the unit of utime and stime in
// /proc/<pid>/stat (100 on every Linux the benchmark runs on).
const clockTicks = 100

// childCPU returns the CPU seconds (user and system) each child process of
// this benchmark has used, by command name: etcd, kube-apiserver and the
// manager. On a shared machine the wall-clock time to Ready depends on what
// else runs; the CPU each process spent does much less.
func childCPU() map[string]float64 {
	out := map[string]float64{}
	tasks, _ := filepath.Glob("/proc/self/task/*/children")
	for _, t := range tasks {
		data, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, pid := range strings.Fields(string(data)) {
			if name, secs, ok := processCPU(pid); ok {
				out[name] += secs
			}
		}
	}
	return out
}

// processCPU reads a process's command name and CPU seconds from
// /proc/<pid>/stat.
func processCPU(pid string) (name string, seconds float64, ok bool) {
	data, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return "", 0, false
	}
	s := string(data)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return "", 0, false
	}
	fields := strings.Fields(s[end+1:])
	if len(fields) < 13 { // state is fields[0]; utime and stime are fields[11] and [12]
		return "", 0, false
	}
	utime, err1 := strconv.ParseFloat(fields[11], 64)
	stime, err2 := strconv.ParseFloat(fields[12], 64)
	if err1 != nil || err2 != nil {
		return "", 0, false
	}
	return s[open+1 : end], (utime + stime) / clockTicks, true
}
