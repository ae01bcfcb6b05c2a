package bench

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

var (
	errServerClose  = errors.New("bench: server closed the connection")
	errClientClose  = errors.New("bench: closed by bench")
	errServerEIO    = errors.New("bench: server sent engine.io close")
	errSIODisconn   = errors.New("bench: server sent socket.io disconnect")
	errNotOpen      = errors.New("bench: first packet is not engine.io open")
	errHandshake    = errors.New("bench: socket.io connect not acknowledged")
	errConnectError = errors.New("bench: socket.io connect_error")
)

// transport is the wire under one Socket.IO client: a websocket or an
// HTTP long-polling session. readMessage is called by one goroutine only.
type transport interface {
	readMessage() ([]byte, error)
	send(p []byte) error
	sendWithin(p []byte, d time.Duration) error // send with a custom bound, for goodbyes
	setReadDeadline(time.Time)
	close()
	abort()
}

// target is one server URL, resolved once for both transports.
type target struct {
	wsURL   string
	pollURL string
	apiBase string
	header  http.Header
	tls     *tls.Config // nil: Go defaults
	deflate bool        // offer permessage-deflate on websockets
}

func makeTarget(raw, path string, header http.Header) (target, error) {
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return target{}, err
	}
	httpScheme, wsScheme := "http", "ws"
	switch u.Scheme {
	case "http", "ws":
	case "https", "wss":
		httpScheme, wsScheme = "https", "wss"
	default:
		return target{}, fmt.Errorf("unsupported scheme %q", u.Scheme)
	}
	if u.Host == "" {
		return target{}, fmt.Errorf("no host in %q", raw)
	}
	p := path
	if u.Path != "" && u.Path != "/" {
		p = u.Path // an explicit path in --url wins over --path
	}
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	q := u.Query()
	q.Set("EIO", "4")
	q.Set("transport", "websocket")
	ws := url.URL{Scheme: wsScheme, Host: u.Host, Path: p, RawQuery: q.Encode()}
	q.Set("transport", "polling")
	poll := url.URL{Scheme: httpScheme, Host: u.Host, Path: p, RawQuery: q.Encode()}
	return target{wsURL: ws.String(), pollURL: poll.String(), apiBase: httpScheme + "://" + u.Host, header: header}, nil
}

// sock is one Socket.IO client socket: a transport, the namespace it joined
// and a packet handler run on its read goroutine.
type sock struct {
	idx       int
	tr        transport
	namespace string
	polling   bool
	pingLimit time.Duration // pingInterval+pingTimeout from the OPEN packet
	closing   atomic.Bool
	pings     *atomic.Int64 // shared counter of pings answered; may be nil
	packets   *atomic.Int64 // shared counter of Socket.IO packets received; may be nil
	// onPacket runs on the read goroutine for every Socket.IO packet after
	// CONNECT. The packet's Data is valid only during the call.
	onPacket func(s *sock, p sioPacket, now time.Time)
	// mode-specific state owned by the mode driver.
	state any
}

type dialOptions struct {
	namespace string
	auth      []byte // raw JSON object for CONNECT, nil for none
	timeout   time.Duration
	polling   bool
	local     net.IP
	polls     *pollingClients
}

// connect dials, completes the Engine.IO open and the Socket.IO CONNECT,
// and returns the connected socket. It does not start the read loop.
func connect(ctx context.Context, t target, o dialOptions) (*sock, error) {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	var tr transport
	var ptr *pollingTransport
	if o.polling {
		p, err := dialPolling(ctx, t, o.polls.get(o.local))
		if err != nil {
			return nil, err
		}
		tr, ptr = p, p
	} else {
		w, err := dialWS(ctx, t, o.local, o.timeout)
		if err != nil {
			return nil, err
		}
		tr = w
	}
	s := &sock{tr: tr, namespace: o.namespace, polling: o.polling}
	ok := false
	defer func() {
		if !ok {
			tr.abort()
		}
	}()
	deadline, _ := ctx.Deadline()
	tr.setReadDeadline(deadline)
	stop := context.AfterFunc(ctx, tr.abort) // bounds polling GETs too
	defer stop()

	msg, err := tr.readMessage()
	if err != nil {
		if ctx.Err() != nil {
			return nil, context.DeadlineExceeded
		}
		return nil, err
	}
	if len(msg) == 0 || msg[0] != eioOpen {
		return nil, errNotOpen
	}
	var op openPacket
	if err := json.Unmarshal(msg[1:], &op); err != nil {
		return nil, fmt.Errorf("bench: open packet: %w", err)
	}
	s.pingLimit = time.Duration(op.PingInterval+op.PingTimeout) * time.Millisecond
	if ptr != nil {
		ptr.setSID(op.SID)
	}
	if err := tr.send(appendSIO(nil, sioConnect, o.namespace, -1, o.auth)); err != nil {
		return nil, err
	}
	for {
		msg, err := tr.readMessage()
		if err != nil {
			if ctx.Err() != nil {
				return nil, context.DeadlineExceeded
			}
			return nil, err
		}
		if len(msg) == 0 {
			continue
		}
		switch msg[0] {
		case eioPing:
			if err := tr.send([]byte{eioPong}); err != nil {
				return nil, err
			}
			continue
		case eioClose:
			return nil, errServerEIO
		case eioMessage:
		default:
			continue
		}
		p, err := decodeSIO(msg[1:])
		if err != nil {
			return nil, err
		}
		if p.Namespace != o.namespace {
			continue
		}
		switch p.Type {
		case sioConnect:
			ok = true
			tr.setReadDeadline(time.Time{})
			return s, nil
		case sioConnectError:
			var ce struct {
				Message string `json:"message"`
			}
			_ = json.Unmarshal(p.Data, &ce)
			return nil, fmt.Errorf("%w: %s", errConnectError, ce.Message)
		default:
			return nil, errHandshake
		}
	}
}

// readLoop answers pings and hands Socket.IO packets of the socket's
// namespace to onPacket until the transport fails or the socket is closed.
// It returns the reason; nil when the bench closed the socket.
func (s *sock) readLoop() error {
	for {
		if s.pingLimit > 0 && !s.polling {
			s.tr.setReadDeadline(time.Now().Add(s.pingLimit + 5*time.Second))
		}
		msg, err := s.tr.readMessage()
		if err != nil {
			if s.closing.Load() {
				return nil
			}
			return err
		}
		if len(msg) == 0 {
			continue
		}
		switch msg[0] {
		case eioPing:
			if err := s.tr.send([]byte{eioPong}); err != nil && !s.closing.Load() {
				return err
			}
			if s.pings != nil {
				s.pings.Add(1)
			}
		case eioClose:
			return errServerEIO
		case eioMessage:
			p, err := decodeSIO(msg[1:])
			if err != nil {
				return err
			}
			if p.Namespace != s.namespace {
				continue
			}
			if p.Type == sioDisconnect {
				return errSIODisconn
			}
			if s.packets != nil {
				s.packets.Add(1)
			}
			if s.onPacket != nil {
				s.onPacket(s, p, time.Now())
			}
		}
	}
}

// emit sends an EVENT with raw JSON args; id < 0 means no ack requested.
func (s *sock) emit(event string, id int64, args ...[]byte) error {
	return s.tr.send(appendEvent(nil, s.namespace, id, event, args...))
}

// closeTimeout bounds each goodbye write, so closing thousands of sockets
// of a dead server stays quick.
const closeTimeout = time.Second

// close disconnects politely: Socket.IO DISCONNECT, then the transport close.
func (s *sock) close() {
	if s.closing.Swap(true) {
		return
	}
	_ = s.tr.sendWithin(appendSIO(nil, sioDisconnect, s.namespace, -1, nil), closeTimeout)
	s.tr.close()
}

// reason maps an error to a short, stable label for the failure table.
func reason(err error) string {
	var ne net.Error
	var opErr *net.OpError
	switch {
	case err == nil:
		return ""
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return "too many open files"
	case errors.Is(err, syscall.EADDRNOTAVAIL), errors.Is(err, syscall.EADDRINUSE):
		return "no local port (add --source-ips)"
	case errors.Is(err, syscall.EPIPE):
		return "broken pipe"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	case errors.Is(err, errConnectError):
		return "connect_error: " + truncate(strings.TrimPrefix(err.Error(), errConnectError.Error()+": "), 60)
	case errors.Is(err, errServerClose), errors.Is(err, errServerEIO), errors.Is(err, errSIODisconn),
		errors.Is(err, errNotOpen), errors.Is(err, errHandshake):
		return strings.TrimPrefix(err.Error(), "bench: ")
	case errors.As(err, &opErr):
		return opErr.Op + ": " + truncate(opErr.Err.Error(), 60)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	}
	msg := err.Error()
	if i := strings.Index(msg, "unexpected HTTP response status: "); i >= 0 {
		return "ws handshake status " + truncate(msg[i+len("unexpected HTTP response status: "):], 20)
	}
	return truncate(strings.TrimPrefix(msg, "bench: "), 60)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
