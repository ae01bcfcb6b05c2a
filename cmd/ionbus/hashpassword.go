package main

import (
	"context"
	"flag"
	"fmt"

	"golang.org/x/crypto/bcrypt"
)

// envAdminPassword carries the password to hash-password, so that it
// stays out of the process list (a flag would not).
const envAdminPassword = "IONBUS_ADMIN_UI_PASSWORD"

// runHashPassword prints the bcrypt hash of a password for
// admin_ui.password_hash. The password comes from IONBUS_ADMIN_UI_PASSWORD
// or --password.
func runHashPassword(_ context.Context, args []string, io stdio) error {
	fs := flag.NewFlagSet("hash-password", flag.ContinueOnError)
	fs.SetOutput(io.err)
	password := fs.String("password", "", "the `password` (prefer the variable "+envAdminPassword+": flags show in ps)")
	cost := fs.Int("cost", bcrypt.DefaultCost, "bcrypt cost (4-31; each step doubles the time of a login)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	if *password == "" {
		*password, _ = io.getenv(envAdminPassword)
	}
	switch {
	case *password == "":
		return fmt.Errorf("%w: set %s (or --password)", errUsage, envAdminPassword)
	case *cost < bcrypt.MinCost || *cost > bcrypt.MaxCost:
		return fmt.Errorf("%w: --cost %d is outside %d-%d", errUsage, *cost, bcrypt.MinCost, bcrypt.MaxCost)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(*password), *cost)
	if err != nil {
		return fmt.Errorf("hash-password: %w", err) // a password over 72 bytes
	}
	_, err = fmt.Fprintln(io.out, string(hash))
	return err
}
