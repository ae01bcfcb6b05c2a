package bench

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// Modes understood by Main.
const (
	modeIdle   = "idle"
	modeFanout = "fanout"
	modeEcho   = "echo"
	modeChurn  = "churn"
	modeMerge  = "merge"
)

// errUsage marks command-line mistakes (exit status 2); errHelp an explicit
// request for the usage text (exit status 0).
var (
	errUsage = errors.New("usage")
	errHelp  = errors.New("help")
)

// config is the parsed command line. Durations are wall-clock; zero values
// are replaced by the defaults in parseConfig.
type config struct {
	Mode         string        `json:"mode"`
	URLs         []string      `json:"urls"`
	SourceIPs    []string      `json:"source_ips,omitempty"`
	Namespace    string        `json:"namespace"`
	Path         string        `json:"path"`
	Clients      int           `json:"clients"`       // sockets of this shard (after the shard split)
	TotalClients int           `json:"total_clients"` // --clients as given
	Rate         float64       `json:"rate"`          // connects/s (churn: cycles/s) of this shard
	Hold         time.Duration `json:"hold_ns"`
	Duration     time.Duration `json:"duration_ns"`
	Timeout      time.Duration `json:"timeout_ns"`
	PollingShare float64       `json:"polling_share"`
	Auth         string        `json:"-"` // may hold a token: never written to reports
	ShardIndex   int           `json:"shard_index"`
	ShardCount   int           `json:"shard_count"`
	ServerPID    int           `json:"server_pid,omitempty"`

	// fanout
	Room        string        `json:"room,omitempty"`
	JoinEvent   string        `json:"join_event,omitempty"`
	JoinPayload string        `json:"join_payload,omitempty"`
	Trigger     string        `json:"trigger,omitempty"`
	API         string        `json:"api,omitempty"`
	Event       string        `json:"event,omitempty"`
	Broadcasts  int           `json:"broadcasts,omitempty"`
	Interval    time.Duration `json:"interval_ns,omitempty"`
	Drain       time.Duration `json:"drain_ns,omitempty"`
	StartDelay  time.Duration `json:"start_delay_ns,omitempty"`

	// echo
	EchoEvent   string  `json:"echo_event,omitempty"`
	EchoRate    float64 `json:"echo_rate,omitempty"` // emits/s of this shard; 0 = closed loop
	PayloadSize int     `json:"payload_size,omitempty"`
	Inflight    int     `json:"inflight,omitempty"`

	// churn
	Concurrency int `json:"concurrency,omitempty"`

	// Deflate offers websocket permessage-deflate (no context takeover).
	Deflate bool `json:"deflate,omitempty"`

	apiKey     string
	insecure   bool // skip TLS verification (wss/https with a self-signed cert)
	jsonPath   string
	expectRaw  string
	expect     []threshold
	progress   string // auto|on|off
	header     http.Header
	templated  bool // {i} in --auth or a --header value
	localIPs   []net.IP
	mergeFiles []string
}

type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

const usageText = `usage: ionbus bench <mode> [flags]

Load generator for any Socket.IO v4 server (Engine.IO v4 / Socket.IO v5),
over websocket and, for a share of clients, HTTP long-polling.

modes:
  idle     open --clients sockets at --rate/s, hold them --hold, report
           connect latency, failures by reason, server RSS/socket and CPU
  fanout   --clients receivers join --room (via --join-event), then
           --broadcasts triggers every --interval (HTTP API or a client
           event); reports delivery latency, per-round all-delivered time,
           deliveries/s, missing and duplicate packets
  echo     --clients sockets emit --echo-event with an ack for --duration;
           reports ack round-trip percentiles and acks/s
  churn    connect+disconnect cycles at --rate/s with at most
           --concurrency sockets open, for --duration
  merge    merge shard reports: ionbus bench merge [--json out] [--expect ..] a.json b.json ...

common flags:
  --url URL            server (http://host:port, ws://.. or https://..); repeatable or
                       comma-separated: sockets are spread round-robin (default http://127.0.0.1:4000)
  --source-ips LIST    local addresses to dial from, round-robin (one IP ≈ 28k ports)
  -n, --clients N      sockets (fanout: receivers; echo: concurrent senders) (default 100)
  --rate R             connects per second (churn: cycles per second) (default 1000)
  --namespace NSP      Socket.IO namespace (default /)
  --path PATH          Engine.IO path (default /socket.io/)
  --auth JSON          CONNECT auth payload, e.g. '{"token":"..."}'
  --header 'K: V'      extra handshake header (repeatable)
                       in both, {i} is the socket's number (unique across shards), e.g.
                       --header 'Cookie: session=s{i}' gives every socket its own session
  --polling-share F    fraction of sockets on HTTP long-polling, 0..1 (default 0)
  --hold D             idle: how long to hold all sockets (default 10s); churn: per-socket hold (default 0)
  --duration D         echo/churn run time; fanout/idle: hard cap on the whole run (default 10s / 10m)
  --timeout D          per-socket connect timeout (default 10s)
  --server-pid PID     sample server RSS (/proc/PID/status) and CPU (/proc/PID/stat)
  --shard i/n          run share i of n (0-based): N, --rate and source IPs are split;
                       only shard 0 triggers fanout broadcasts
  --json FILE          write the machine-readable report ("-" for stdout)
  --expect LIST        thresholds, e.g. 'p99<100ms,failures=0,missing=0,rate>=10000';
                       any failure exits 1
  --progress MODE      auto (only on a TTY), on, off (default auto)
  --insecure           do not verify TLS certificates (wss://, https:// targets and API)
  --deflate            offer websocket permessage-deflate (no context takeover either way,
                       as browsers may); compressed server messages are inflated

fanout flags:
  --room NAME          room to join; empty: receive namespace-wide broadcasts (default bench)
  --join-event NAME    event emitted to join (default join_room)
  --join-payload JSON  its argument; {room} is replaced (default {"room_name":"{room}"})
  --trigger T          api | event:NAME | none (default api)
  --api URL            HTTP API base for --trigger api (POST URL/api/v1/emit)
  --api-key KEY        bearer token for the API (default $IONBUS_API_KEY)
  --event NAME         broadcast event name (default bench)
  --broadcasts K       rounds (default 10)
  --interval D         between rounds (default 1s)
  --drain D            wait after the last round for stragglers (default 10s)
  --start-delay D      wait after joining before round 0 (let other shards join)

echo flags:
  --echo-event NAME    event the server acks with its arguments (default echo)
  --payload-size B     string payload bytes (default 64)
  --inflight K         outstanding acks per socket (default 1)
  --echo-rate R        open loop: R emits per second in total, round-robin over the
                       sockets (an emit is skipped, and counted, while its socket has
                       --inflight acks outstanding); default 0: closed loop, each ack
                       triggers the next emit

churn flags:
  --concurrency C      max sockets open at once (default 100)

metrics for --expect (latency metrics compare in ms; durations like 250ms/2s work):
  p50 p90 p99 p999 max mean   the mode's main latency (idle/churn: connect =
                              TCP dial → Socket.IO CONNECT answered; fanout:
                              delivery = trigger send → receipt; echo: ack RTT)
  connect.p99 delivery.p99 all_delivered.p99 rtt.p99 ... (explicit histograms)
  rate                        idle: connects/s, fanout: deliveries/s, echo: acks/s,
                              churn: cycles/s
  failures connected dropped receivers missing duplicates deliveries acks
  timeouts cycles server_rss_per_socket server_cpu_percent client_cpu_percent
  client_rss_per_socket burst_deliveries_per_sec trigger_errors

exit status: 0 ok, 1 an --expect threshold failed, 2 usage error, 3 run error
`

func parseConfig(args []string, stderr io.Writer) (*config, error) {
	if len(args) == 0 {
		return nil, errUsage
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		return nil, errHelp
	}
	c := &config{Mode: args[0]}
	switch c.Mode {
	case modeIdle, modeFanout, modeEcho, modeChurn, modeMerge:
	default:
		return nil, fmt.Errorf("%w: unknown mode %q", errUsage, c.Mode)
	}
	fs := flag.NewFlagSet("ionbus bench "+c.Mode, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var urls, ips, headers listFlag
	var shard string
	fs.Var(&urls, "url", "")
	fs.Var(&ips, "source-ips", "")
	fs.Var(&headers, "header", "")
	fs.IntVar(&c.TotalClients, "clients", 100, "")
	fs.IntVar(&c.TotalClients, "n", 100, "")
	fs.Float64Var(&c.Rate, "rate", 1000, "")
	fs.StringVar(&c.Namespace, "namespace", "/", "")
	fs.StringVar(&c.Path, "path", "/socket.io/", "")
	fs.StringVar(&c.Auth, "auth", "", "")
	fs.Float64Var(&c.PollingShare, "polling-share", 0, "")
	fs.DurationVar(&c.Hold, "hold", -1, "")
	fs.DurationVar(&c.Duration, "duration", 0, "")
	fs.DurationVar(&c.Timeout, "timeout", 10*time.Second, "")
	fs.IntVar(&c.ServerPID, "server-pid", 0, "")
	fs.StringVar(&shard, "shard", "0/1", "")
	fs.StringVar(&c.jsonPath, "json", "", "")
	fs.StringVar(&c.expectRaw, "expect", "", "")
	fs.StringVar(&c.progress, "progress", "auto", "")
	fs.BoolVar(&c.insecure, "insecure", false, "")
	fs.BoolVar(&c.Deflate, "deflate", false, "")
	fs.StringVar(&c.Room, "room", "bench", "")
	fs.StringVar(&c.JoinEvent, "join-event", "join_room", "")
	fs.StringVar(&c.JoinPayload, "join-payload", `{"room_name":"{room}"}`, "")
	fs.StringVar(&c.Trigger, "trigger", "api", "")
	fs.StringVar(&c.API, "api", "", "")
	fs.StringVar(&c.apiKey, "api-key", os.Getenv("IONBUS_API_KEY"), "")
	fs.StringVar(&c.Event, "event", "bench", "")
	fs.IntVar(&c.Broadcasts, "broadcasts", 10, "")
	fs.DurationVar(&c.Interval, "interval", time.Second, "")
	fs.DurationVar(&c.Drain, "drain", 10*time.Second, "")
	fs.DurationVar(&c.StartDelay, "start-delay", 0, "")
	fs.StringVar(&c.EchoEvent, "echo-event", "echo", "")
	fs.IntVar(&c.PayloadSize, "payload-size", 64, "")
	fs.IntVar(&c.Inflight, "inflight", 1, "")
	fs.Float64Var(&c.EchoRate, "echo-rate", 0, "")
	fs.IntVar(&c.Concurrency, "concurrency", 100, "")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, errHelp
		}
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	bad := func(format string, a ...any) (*config, error) {
		return nil, fmt.Errorf("%w: "+format, append([]any{errUsage}, a...)...)
	}

	var err error
	if c.expect, err = parseExpect(c.expectRaw); err != nil {
		return bad("--expect: %v", err)
	}
	if c.Mode == modeMerge {
		c.mergeFiles = fs.Args()
		if len(c.mergeFiles) == 0 {
			return bad("merge needs report files")
		}
		return c, nil
	}
	if fs.NArg() > 0 {
		return bad("unexpected argument %q (flags go after the mode)", fs.Arg(0))
	}
	if err := checkMetrics(c.Mode, c.expect); err != nil {
		return bad("--expect: %v", err)
	}
	if len(urls) == 0 {
		urls = listFlag{"http://127.0.0.1:4000"}
	}
	c.URLs = urls
	c.SourceIPs = ips
	if c.TotalClients < 1 || c.TotalClients > 10_000_000 {
		return bad("--clients must be in 1..10000000")
	}
	if c.Rate <= 0 {
		return bad("--rate must be > 0")
	}
	if c.PollingShare < 0 || c.PollingShare > 1 {
		return bad("--polling-share must be in 0..1")
	}
	if c.Timeout <= 0 {
		return bad("--timeout must be > 0")
	}
	if c.Namespace == "" || c.Namespace[0] != '/' {
		return bad("--namespace must start with /")
	}
	if c.Auth != "" && !json.Valid([]byte(c.Auth)) {
		return bad("--auth is not valid JSON")
	}
	switch c.progress {
	case "auto", "on", "off":
	default:
		return bad("--progress must be auto, on or off")
	}
	c.header = http.Header{}
	for _, h := range headers {
		k, v, ok := strings.Cut(h, ":")
		if !ok {
			return bad("--header %q: want 'Name: value'", h)
		}
		c.header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
		c.templated = c.templated || strings.Contains(v, "{i}")
	}
	c.templated = c.templated || strings.Contains(c.Auth, "{i}")
	if c.ShardIndex, c.ShardCount, err = parseShard(shard); err != nil {
		return bad("--shard: %v", err)
	}
	for _, s := range ips {
		ip := net.ParseIP(s)
		if ip == nil {
			return bad("--source-ips: %q is not an IP address", s)
		}
		c.localIPs = append(c.localIPs, ip)
	}
	c.localIPs = shareIPs(c.localIPs, c.ShardIndex, c.ShardCount)
	c.Clients = shareCount(c.TotalClients, c.ShardIndex, c.ShardCount)
	if c.Clients == 0 {
		return bad("--shard %s leaves this shard no clients", shard)
	}
	c.Rate /= float64(c.ShardCount)

	switch c.Mode {
	case modeIdle:
		if c.Hold < 0 {
			c.Hold = 10 * time.Second
		}
		if c.Duration == 0 {
			c.Duration = 10 * time.Minute
		}
	case modeFanout:
		if c.Hold < 0 {
			c.Hold = 0
		}
		if c.Duration == 0 {
			c.Duration = 10 * time.Minute
		}
		if c.Broadcasts < 1 || c.Broadcasts > 100_000 {
			return bad("--broadcasts must be in 1..100000")
		}
		if c.Interval < 0 || c.Drain < 0 {
			return bad("--interval and --drain must be >= 0")
		}
		if c.ShardIndex > 0 && !set["trigger"] {
			c.Trigger = "none"
		}
		switch {
		case c.Trigger == "api":
			if c.API == "" {
				return bad("--trigger api needs --api URL (for example http://127.0.0.1:4001)")
			}
		case c.Trigger == "none":
		case strings.HasPrefix(c.Trigger, "event:") && len(c.Trigger) > len("event:"):
		default:
			return bad("--trigger must be api, event:NAME or none")
		}
		if c.Room != "" && !json.Valid([]byte(strings.ReplaceAll(c.JoinPayload, "{room}", "x"))) {
			return bad("--join-payload is not valid JSON")
		}
	case modeEcho:
		if c.Hold < 0 {
			c.Hold = 0
		}
		if c.Duration == 0 {
			c.Duration = 10 * time.Second
		}
		if c.PayloadSize < 0 || c.PayloadSize > 16<<20 {
			return bad("--payload-size must be in 0..16MiB")
		}
		if c.Inflight < 1 || c.Inflight > 1024 {
			return bad("--inflight must be in 1..1024")
		}
		if c.EchoRate < 0 {
			return bad("--echo-rate must be >= 0")
		}
		c.EchoRate /= float64(c.ShardCount)
	case modeChurn:
		if c.Hold < 0 {
			c.Hold = 0
		}
		if c.Duration == 0 {
			c.Duration = 10 * time.Second
		}
		if c.Concurrency < 1 {
			return bad("--concurrency must be >= 1")
		}
		c.Concurrency = max(1, shareCount(c.Concurrency, c.ShardIndex, c.ShardCount))
	}
	if c.Duration < 0 {
		return bad("--duration must be > 0")
	}
	return c, nil
}

func parseShard(s string) (int, int, error) {
	a, b, ok := strings.Cut(s, "/")
	if !ok {
		return 0, 0, fmt.Errorf("want i/n, got %q", s)
	}
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return 0, 0, fmt.Errorf("want i/n with 0 <= i < n, got %q", s)
	}
	return i, n, nil
}

// shareCount splits total over n shards; the first total%n shards take one more.
func shareCount(total, i, n int) int {
	c := total / n
	if i < total%n {
		c++
	}
	return c
}

// shareIPs gives shard i every n-th address; with fewer addresses than
// shards every shard uses them all (ports then run out n times faster).
func shareIPs(ips []net.IP, i, n int) []net.IP {
	if len(ips) < n {
		return ips
	}
	var out []net.IP
	for j := i; j < len(ips); j += n {
		out = append(out, ips[j])
	}
	return out
}

// tlsConfig is nil (Go defaults) unless --insecure.
func (c *config) tlsConfig() *tls.Config {
	if !c.insecure {
		return nil
	}
	return &tls.Config{InsecureSkipVerify: true} //nolint:gosec // asked for by --insecure
}

// socketOptions personalizes socket number i of this shard: {i} in --auth
// and in --header values becomes a number unique across shards.
func (c *config) socketOptions(i int, t target) ([]byte, target) {
	var auth []byte
	if c.Auth != "" {
		auth = []byte(c.Auth)
	}
	if !c.templated {
		return auth, t
	}
	n := strconv.Itoa(i*c.ShardCount + c.ShardIndex)
	if auth != nil {
		auth = []byte(strings.ReplaceAll(c.Auth, "{i}", n))
	}
	h := make(http.Header, len(t.header))
	for k, vs := range t.header {
		for _, v := range vs {
			h.Add(k, strings.ReplaceAll(v, "{i}", n))
		}
	}
	t.header = h
	return auth, t
}
