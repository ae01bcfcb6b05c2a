package node

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"syscall"

	"github.com/rs/zerolog"
)

// acceptListener counts failed accepts. File-descriptor exhaustion
// (EMFILE/ENFILE) is the common one under load: net/http's Serve already
// retries temporary accept errors with a growing delay (5 ms up to 1 s), so
// the loop never spins; this wrapper makes the condition visible in
// /api/v1/stats (extra.listener) and in the log, once per burst.
type acceptListener struct {
	net.Listener
	log       zerolog.Logger
	errors    atomic.Uint64
	fdErrors  atomic.Uint64
	inTrouble atomic.Bool
}

// ListenerStats is the snapshot under /api/v1/stats extra.listener.
type ListenerStats struct {
	AcceptErrors   uint64 `json:"accept_errors_total"`
	FDExhaustion   uint64 `json:"accept_fd_exhausted_total"` // EMFILE/ENFILE
	AcceptBackoffs string `json:"accept_backoff"`
}

func (l *acceptListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		if errors.Is(err, net.ErrClosed) {
			return nil, err
		}
		l.errors.Add(1)
		fd := errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
		if fd {
			l.fdErrors.Add(1)
		}
		if l.inTrouble.CompareAndSwap(false, true) {
			l.log.Warn().Err(err).Bool("fd_exhausted", fd).Msg("accept failing; retrying with backoff")
		}
		return nil, err
	}
	if l.inTrouble.CompareAndSwap(true, false) {
		l.log.Info().Msg("accepting again")
	}
	return c, nil
}

func (l *acceptListener) stats() ListenerStats {
	return ListenerStats{AcceptErrors: l.errors.Load(), FDExhaustion: l.fdErrors.Load(), AcceptBackoffs: "5ms doubling to 1s (net/http)"}
}

// tlsConfig loads the certificate of tls.cert_file / tls.key_file (nil
// when both are empty). TLS sessions use connection's goroutine-per-socket
// reader: a TLS stream cannot be read on socket readiness alone (records
// may be buffered inside crypto/tls), so only plain TCP websockets go on
// the epoll loop. The usual deployment terminates TLS in front of ionbus.
func tlsConfig(c TLSConfig) (*tls.Config, error) {
	if c.CertFile == "" && c.KeyFile == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}, nil
}
