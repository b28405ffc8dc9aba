// Command modinv checks and reports on inventories of Go module versions.
// It is the test application of modcachefs: small, but it builds real third-party
// modules (cobra, viper, logrus, prometheus, golang.org/x/...) from a module cache.
package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/sirupsen/logrus"
	"github.com/spf13/afero"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"example.com/modcachefs-testapp/internal/inventory"
	"example.com/modcachefs-testapp/internal/report"
	"example.com/modcachefs-testapp/internal/sysinfo"
)

func main() {
	if err := newRoot(afero.NewOsFs()).Execute(); err != nil {
		os.Exit(1)
	}
}

func newRoot(fs afero.Fs) *cobra.Command {
	v := viper.New()
	log := logrus.New()
	root := &cobra.Command{
		Use:           "modinv",
		Short:         "Check and report on inventories of Go module versions",
		SilenceUsage:  true,
		SilenceErrors: false,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if v.GetBool("verbose") {
				log.SetLevel(logrus.DebugLevel)
				if info, err := sysinfo.Get(); err == nil {
					log.WithFields(logrus.Fields{"kernel": info.Kernel, "machine": info.Machine,
						"pagesize": info.PageSize, "tty": info.TTY}).Debug("host")
				}
			}
			if v.GetString("log-format") == "json" {
				log.SetFormatter(&logrus.JSONFormatter{})
			}
			log.SetOutput(cmd.ErrOrStderr())
			return nil
		},
	}
	flags := root.PersistentFlags()
	flags.BoolP("verbose", "v", false, "log debug messages")
	flags.String("log-format", "text", "log format: text or json")
	// Flags, then MODINV_* environment variables, then defaults.
	flags.VisitAll(func(f *pflag.Flag) { _ = v.BindPFlag(f.Name, f) })
	v.SetEnvPrefix("modinv")
	v.SetEnvKeyReplacer(strings.NewReplacer("-", "_"))
	v.AutomaticEnv()

	load := func(args []string) ([]inventory.Entry, error) {
		var all []inventory.Entry
		for _, name := range args {
			entries, err := inventory.Load(fs, name)
			if err != nil {
				return nil, err
			}
			log.WithField("file", name).Debugf("%d entries", len(entries))
			all = append(all, entries...)
		}
		inventory.Sort(all)
		return all, nil
	}

	root.AddCommand(&cobra.Command{
		Use:   "check FILE...",
		Short: "Validate every module version and print its cache directory and IDs",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			entries, err := load(args)
			if err != nil {
				return err
			}
			if err := inventory.CheckAll(context.Background(), entries); err != nil {
				return err
			}
			for _, e := range entries {
				dir, _ := inventory.CacheDir(e)
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s %s\n", dir, inventory.ID(e), inventory.Digest(e)[:16])
			}
			fmt.Fprintf(cmd.OutOrStdout(), "fingerprint %016x\n", inventory.Fingerprint(entries))
			return nil
		},
	})
	root.AddCommand(&cobra.Command{
		Use:   "metrics FILE...",
		Short: "Print Prometheus metrics about the inventory",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			entries, err := load(args)
			if err != nil {
				return err
			}
			text, err := report.Metrics(entries)
			fmt.Fprint(cmd.OutOrStdout(), text)
			return err
		},
	})
	root.AddCommand(&cobra.Command{
		Use:   "html FILE...",
		Short: "Print the inventory as an HTML page",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			entries, err := load(args)
			if err != nil {
				return err
			}
			page, err := report.HTML(entries)
			fmt.Fprint(cmd.OutOrStdout(), page)
			return err
		},
	})
	return root
}
