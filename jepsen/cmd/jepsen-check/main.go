// Command jepsen-check re-runs every checker on a kept history:
//
//	jepsen-check [-json] [-visualize DIR] [-unavailable 1s] [-max-unavailable 0] RUN_DIR|history.jsonl
//
// It prints one line per checker and exits 1 when the history is not
// valid, 2 on a usage or read error.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/dledgermq/dledgermq/jepsen"
)

func main() {
	opts := jepsen.DefaultCheckOptions()
	asJSON := flag.Bool("json", false, "print the whole report as JSON")
	flag.StringVar(&opts.VisualizeDir, "visualize", "", "write porcupine HTML for non-linearizable queues into this directory")
	flag.DurationVar(&opts.UnavailableAfter, "unavailable", opts.UnavailableAfter, "report gaps without ok operations longer than this")
	flag.DurationVar(&opts.MaxUnavailable, "max-unavailable", 0, "fail when a gap is longer than this (0: report only)")
	flag.DurationVar(&opts.LinearizableTimeout, "lin-timeout", opts.LinearizableTimeout, "porcupine search budget")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: %s [flags] RUN_DIR|history.jsonl\n", os.Args[0])
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	path := flag.Arg(0)
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		path = filepath.Join(path, "history.jsonl")
	}
	h, err := jepsen.LoadHistory(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "jepsen-check: %v\n", err)
		os.Exit(2)
	}
	rep, err := jepsen.CheckAll(h, opts)
	if err != nil {
		fmt.Fprintf(os.Stderr, "jepsen-check: %v\n", err)
		os.Exit(2)
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(&rep); err != nil {
			fmt.Fprintf(os.Stderr, "jepsen-check: %v\n", err)
			os.Exit(2)
		}
	} else {
		fmt.Printf("%s: %d ops\n%s\n", path, len(h), rep.Summary())
		for _, res := range rep.Results() {
			if res.OK() {
				continue
			}
			b, _ := json.MarshalIndent(res, "  ", "  ")
			fmt.Printf("\n%s:\n  %s\n", res.Name(), b)
		}
	}
	if !rep.Valid {
		os.Exit(1)
	}
}
