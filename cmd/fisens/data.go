package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/fisens/fisens/datasets"
)

func init() {
	register(command{name: "data", summary: "datasets: where (what is available), verify (counts, labels), fetch cifar10", run: runData})
}

const dataUsage = `usage: fisens data <subcommand> [flags]

  where  [--data-dir D]                     which datasets are available and from where
  verify [--data-dir D] [dataset...]        check record counts, label ranges and label histograms
  fetch  cifar10 [--dir D] [--url U] [--md5 M|skip]
                                            download, verify and unpack CIFAR-10 (needs internet)

Datasets: mnist, fashion-mnist, cifar10. Without --data-dir they are looked for in $FISENS_DATA,
the GoMNIST Go module (MNIST), /usr/share/datasets/fashion-mnist (Debian package
dataset-fashion-mnist), ./data and the data/ folder of the enclosing Go module.
`

func runData(args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(os.Stderr, dataUsage)
		if len(args) == 0 {
			return errors.New("fisens data: missing subcommand (where, verify or fetch)")
		}
		return nil
	}
	switch args[0] {
	case "where":
		return dataWhere(os.Stdout, args[1:])
	case "verify":
		return dataVerify(os.Stdout, args[1:])
	case "fetch":
		return dataFetch(os.Stdout, args[1:])
	}
	return fmt.Errorf("fisens data: unknown subcommand %q (want where, verify or fetch)", args[0])
}

func dataWhere(w io.Writer, args []string) error {
	fs := flag.NewFlagSet("data where", flag.ContinueOnError)
	dir := fs.String("data-dir", "", "folder with a dataset's canonical files (default: discovery)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	names := fs.Args()
	if len(names) == 0 {
		names = datasets.Datasets()
	}
	for _, n := range names {
		loc, err := datasets.Locate(n, dirOption(*dir))
		switch {
		case err == nil:
			fmt.Fprintf(w, "%-14s available  %s\n", n, describeLocation(loc))
		case datasets.IsNotFound(err):
			fmt.Fprintf(w, "%-14s missing    %s\n", n, datasets.HowToGet(strings.ToLower(n)))
		default:
			return err
		}
	}
	return nil
}

func describeLocation(loc *datasets.Location) string {
	if len(loc.Files) == 0 && loc.Archive != "" {
		return fmt.Sprintf("%s (from %s; unpacked next to it on first use)", loc.Archive, loc.Source)
	}
	return fmt.Sprintf("%s (from %s)", loc.Dir, loc.Source)
}

func dirOption(dir string) datasets.Option {
	if dir == "" {
		return nil
	}
	return datasets.WithDir(dir)
}

func dataVerify(w io.Writer, args []string) error {
	fs := flag.NewFlagSet("data verify", flag.ContinueOnError)
	dir := fs.String("data-dir", "", "folder with the dataset's canonical files (default: discovery)")
	quiet := fs.Bool("quiet", false, "no progress bar")
	if err := fs.Parse(args); err != nil {
		return err
	}
	names := fs.Args()
	explicit := len(names) > 0
	if !explicit {
		names = datasets.Datasets()
	}
	var prog io.Writer = os.Stderr
	if *quiet {
		prog = nil
	}
	failed := 0
	for _, n := range names {
		rep, err := datasets.Verify(n, dirOption(*dir), datasets.WithProgress(prog))
		if err != nil {
			if datasets.IsNotFound(err) && !explicit {
				fmt.Fprintf(w, "%-14s SKIPPED (not found; %s)\n", n, datasets.HowToGet(n))
				continue
			}
			fmt.Fprintf(w, "%-14s FAILED: %v\n", n, err)
			failed++
			continue
		}
		status := "OK (canonical counts and label histograms)"
		if !rep.OK() {
			status = "DIFFERS from the canonical files"
			failed++
		}
		fmt.Fprintf(w, "%-14s %s\n", n, status)
		fmt.Fprintf(w, "  files: %s\n", describeLocation(rep.Location))
		fmt.Fprintf(w, "  train: %d records, labels per class %v\n", rep.TrainCount, rep.TrainHist)
		fmt.Fprintf(w, "  test:  %d records, labels per class %v\n", rep.TestCount, rep.TestHist)
		for _, p := range rep.Problems {
			fmt.Fprintf(w, "  problem: %s\n", p)
		}
	}
	if failed > 0 {
		return fmt.Errorf("fisens data verify: %d dataset(s) failed", failed)
	}
	return nil
}

func dataFetch(w io.Writer, args []string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return errors.New("fisens data fetch: which dataset? usage: fisens data fetch cifar10 [--dir D] [--url U] [--md5 M|skip]")
	}
	name := strings.ToLower(args[0])
	switch name {
	case "cifar10", "cifar-10":
	case "mnist":
		return fmt.Errorf("fisens data fetch: mnist needs no download: %s", datasets.HowToGet(datasets.MNIST))
	case "fashion-mnist", "fashion":
		return fmt.Errorf("fisens data fetch: fashion-mnist is not downloaded by fisens: %s", datasets.HowToGet(datasets.FashionMNIST))
	default:
		return fmt.Errorf("fisens data fetch: unknown dataset %q (only cifar10 is fetched)", args[0])
	}
	fs := flag.NewFlagSet("data fetch", flag.ContinueOnError)
	defDir := filepath.Join("data", "cifar10")
	if env := os.Getenv(datasets.EnvDataDir); env != "" {
		defDir = filepath.Join(env, "cifar10")
	}
	dir := fs.String("dir", defDir, "folder to put cifar-10-binary.tar.gz and cifar-10-batches-bin/ in")
	url := fs.String("url", datasets.CIFAR10URL, "download address")
	sum := fs.String("md5", datasets.CIFAR10MD5, `expected MD5 of the archive ("skip": no check; sizes and labels are checked anyway)`)
	records := fs.Int("records", 10000, "expected records per batch file (negative: any)")
	quiet := fs.Bool("quiet", false, "no progress bar")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	var prog io.Writer = os.Stderr
	if *quiet {
		prog = nil
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	out, err := datasets.FetchCIFAR10(ctx, *dir, datasets.FetchOptions{URL: *url, MD5: *sum, RecordsPerFile: *records, Progress: prog})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "CIFAR-10 ready in %s\n", out)
	if *sum == "skip" {
		fmt.Fprintln(w, "note: the MD5 check was skipped (record sizes and labels were checked)")
	}
	return nil
}
