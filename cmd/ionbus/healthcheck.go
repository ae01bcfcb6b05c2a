package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// envAPIListen is read by healthcheck to find the API of the node it runs
// beside (the same variable serve reads for api.listen).
const envAPIListen = "IONBUS_API_LISTEN"

// defaultAPIListen is api.listen's default (node.Default).
const defaultAPIListen = "127.0.0.1:4001"

// runHealthcheck GETs a node's /healthz and succeeds on 200 only (503
// while the node is degraded or draining): the HEALTHCHECK of images
// without curl (distroless).
func runHealthcheck(ctx context.Context, args []string, io stdio) error {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(io.err)
	fs.Usage = func() {
		fmt.Fprintln(io.err, "usage: ionbus healthcheck [--url URL] [--timeout 3s]\n\n"+
			"GETs a node's /healthz: exit 0 on 200, 1 otherwise, 2 on a usage error.\nFlags:")
		fs.PrintDefaults()
	}
	listen, ok := io.getenv(envAPIListen)
	if !ok || listen == "" {
		listen = defaultAPIListen
	}
	target := fs.String("url", healthURL(listen), "URL to GET; healthy when it answers 200 (the default follows "+envAPIListen+")")
	timeout := fs.Duration("timeout", 3*time.Second, "bound on the whole request")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	if u, err := url.Parse(*target); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w: --url %q: want an absolute http or https URL", errUsage, *target)
	}
	if *timeout <= 0 {
		return fmt.Errorf("%w: --timeout must be positive", errUsage)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *target, nil)
	if err != nil {
		return err
	}
	// One request per process: no keep-alive, no proxy from the
	// environment (the target is the node beside us).
	transport := &http.Transport{DisableKeepAlives: true}
	defer transport.CloseIdleConnections()
	resp, err := (&http.Client{Transport: transport}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	status := readSome(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s %s", *target, resp.Status, status)
	}
	// Docker keeps the output of the last checks (docker inspect).
	fmt.Fprintln(io.out, status)
	return nil
}

// readSome returns the start of a body (a health answer is small), trimmed.
func readSome(r io.Reader) string {
	body, _ := io.ReadAll(io.LimitReader(r, 1024))
	return strings.TrimSpace(string(body))
}

// healthURL is the /healthz URL of an API listening on listen: a
// wildcard or empty host is reached on loopback.
func healthURL(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		host, port = "127.0.0.1", "4001"
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/healthz"
}
