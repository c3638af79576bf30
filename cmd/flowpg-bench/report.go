package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"
)

// result is everything one run prints.
type result struct {
	Machine machine `json:"machine"`
	Quick   bool    `json:"quick"`
	Command string  `json:"command"`
	Rows    []row   `json:"rows"`
}

// machine describes where the figures were taken: on a shared two-core
// machine they move with the load.
type machine struct {
	Date        string `json:"date"`
	CPUs        int    `json:"cpus"`
	CPUModel    string `json:"cpuModel,omitempty"`
	GoVersion   string `json:"goVersion"`
	GOOS        string `json:"goos"`
	GOARCH      string `json:"goarch"`
	LoadAvg     string `json:"loadAvgStart"`
	LoadAvgEnd  string `json:"loadAvgEnd"`
	PostgreSQL  string `json:"postgresql"`
	RTTInjected string `json:"rttInjected"`
}

// row is one line of the table: a figure beside its baseline, both
// measured in this run.
type row struct {
	Measurement    string  `json:"measurement"`
	Figure         string  `json:"figure"`
	Baseline       string  `json:"baseline"`
	BaselineFigure string  `json:"baselineFigure"`
	Ratio          string  `json:"ratio"`
	Target         string  `json:"target"`
	Met            *bool   `json:"met,omitempty"` // nil: no target
	Value          float64 `json:"value"`
	BaselineValue  float64 `json:"baselineValue"`
	Unit           string  `json:"unit"`
	N              int     `json:"n"` // iterations, pairs, runs or samples behind the figure
}

func machineInfo() machine {
	return machine{
		Date:        time.Now().Format("2006-01-02 15:04 MST"),
		CPUs:        runtime.NumCPU(),
		CPUModel:    cpuModel(),
		GoVersion:   runtime.Version(),
		GOOS:        runtime.GOOS,
		GOARCH:      runtime.GOARCH,
		LoadAvg:     loadAvg(),
		RTTInjected: rtt.String(),
	}
}

// loadAvg is the first three fields of /proc/loadavg, or "n/a".
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "n/a"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "n/a"
	}
	return strings.Join(f[:3], " ")
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func writeMarkdown(w io.Writer, res result) {
	m := res.Machine
	mode := "full"
	if res.Quick {
		mode = "quick"
	}
	fmt.Fprintf(w, "flowpg-bench, %s run, %s\n\n", mode, m.Date)
	fmt.Fprintf(w, "- machine: %d CPUs (%s), %s/%s, %s\n", m.CPUs, m.CPUModel, m.GOOS, m.GOARCH, m.GoVersion)
	fmt.Fprintf(w, "- load average (1/5/15 min): %s at start, %s at end\n", m.LoadAvg, m.LoadAvgEnd)
	fmt.Fprintf(w, "- PostgreSQL %s in Docker (pgtest, TLS on); injected latency %s each way (%s RTT)\n", m.PostgreSQL, oneWay, m.RTTInjected)
	fmt.Fprintf(w, "- timed pairs alternate check and baseline; figures are medians; n = pairs, runs or samples\n\n")
	fmt.Fprintln(w, "| measurement | figure | baseline | baseline figure | ratio | target |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, r := range res.Rows {
		target := r.Target
		switch {
		case r.Met == nil:
		case *r.Met:
			target += " ✅ met"
		default:
			target += " ❌ not met"
		}
		fmt.Fprintf(w, "| %s (n=%d) | %s | %s | %s | %s | %s |\n", r.Measurement, r.N, r.Figure, r.Baseline, r.BaselineFigure, r.Ratio, target)
	}
}
