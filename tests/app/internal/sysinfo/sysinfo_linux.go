// Package sysinfo reports facts about the host with golang.org/x/sys/unix.
package sysinfo

import (
	"os"

	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// Info is what the CLI prints with --verbose.
type Info struct {
	Kernel   string
	Machine  string
	PageSize int
	TTY      bool
}

// Get returns the kernel release, machine, page size and whether stdout is a terminal.
func Get() (Info, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return Info{}, err
	}
	return Info{
		Kernel:   unix.ByteSliceToString(u.Release[:]),
		Machine:  unix.ByteSliceToString(u.Machine[:]),
		PageSize: unix.Getpagesize(),
		TTY:      term.IsTerminal(int(os.Stdout.Fd())),
	}, nil
}
