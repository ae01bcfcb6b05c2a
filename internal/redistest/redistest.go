// Package redistest runs real redis-server processes for tests: on free
// loopback ports, without persistence (--save "" --appendonly no). When a
// binary it needs is missing the test is skipped, unless CI is set: then
// it fails. Standard library only, so any package's tests can use it.
package redistest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Require skips t when one of the binaries is not on PATH and CI is
// unset, and fails it when CI is set.
func Require(t testing.TB, bins ...string) {
	t.Helper()
	for _, bin := range bins {
		if _, err := exec.LookPath(bin); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s not found under CI: %v", bin, err)
			}
			t.Skipf("%s not installed (set CI to make this a failure)", bin)
		}
	}
}

// Server is a redis-server child process.
type Server struct {
	Port int
	Addr string
	t    testing.TB // nil for a Shared server
	args []string
	log  string        // redis-server's log file
	cmd  *exec.Cmd     // nil when stopped
	done chan struct{} // closed once cmd exited
}

// Start starts redis-server for the test; t.Cleanup kills it. It skips
// (or fails under CI) when redis-server is missing.
func Start(t testing.TB) *Server {
	t.Helper()
	Require(t, "redis-server")
	s := newServer(t, freePort(t), t.TempDir())
	s.mustStart()
	// One cleanup kills whichever process is current, so a restarted
	// server still stops after the clients registered later.
	t.Cleanup(s.Stop)
	return s
}

func newServer(t testing.TB, port int, dir string, extra ...string) *Server {
	s := &Server{t: t, Port: port, Addr: "127.0.0.1:" + strconv.Itoa(port), log: filepath.Join(dir, "redis.log")}
	s.args = append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir, "--logfile", s.log}, extra...)
	return s
}

func (s *Server) mustStart() {
	s.t.Helper()
	if err := s.start(false); err != nil {
		s.t.Fatal(err)
	}
}

// start runs redis-server until it answers PING. A process that does not
// answer within 3s is killed and started again (the port may still be
// held by a client's half-closed socket after a Stop), for up to 10s.
func (s *Server) start(orphanKill bool) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.cmd = exec.Command("redis-server", s.args...)
		if orphanKill {
			killWithParent(s.cmd)
		}
		if err := s.cmd.Start(); err != nil {
			s.cmd = nil
			return fmt.Errorf("start redis-server: %v", err)
		}
		s.done = make(chan struct{})
		go func(cmd *exec.Cmd, done chan struct{}) {
			_ = cmd.Wait()
			close(done)
		}(s.cmd, s.done)
		if s.ready(3 * time.Second) {
			return nil
		}
		s.Stop()
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(s.log)
			return fmt.Errorf("redis-server on %s did not come up; its log:\n%s", s.Addr, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *Server) ready(within time.Duration) bool {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return false // exited (port taken?)
		default:
		}
		if reply, err := Cmd(s.Addr, "PING"); err == nil && reply == "+PONG" {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// Stop kills the server with SIGKILL, like a crash, and waits for it.
// Safe to call twice.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// Restart starts the server again, empty, on the same port (stopping it
// first if it runs).
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.mustStart()
}

// URL is the server's redis:// URL.
func (s *Server) URL() string { return "redis://" + s.Addr }

// Shared is one redis-server for a whole test binary, started on first
// use. TestMain calls Stop after m.Run. The server is killed by the
// kernel if the test binary dies before that (Linux).
type Shared struct {
	once sync.Once
	srv  *Server
	dir  string
	err  error
}

// Addr returns the address of the shared server, starting it on first
// use. It skips t (or fails it under CI) when redis-server is missing.
func (sh *Shared) Addr(t testing.TB) string {
	t.Helper()
	Require(t, "redis-server")
	sh.once.Do(func() {
		port, err := pickPort()
		if err != nil {
			sh.err = err
			return
		}
		if sh.dir, sh.err = os.MkdirTemp("", "redistest-"); sh.err != nil {
			return
		}
		srv := newServer(nil, port, sh.dir)
		if sh.err = srv.start(true); sh.err == nil {
			sh.srv = srv
		}
	})
	if sh.err != nil {
		t.Fatalf("redis-server: %v", sh.err)
	}
	return sh.srv.Addr
}

// Stop kills the shared server if it was started.
func (sh *Shared) Stop() {
	if sh.srv != nil {
		sh.srv.Stop()
	}
	if sh.dir != "" {
		_ = os.RemoveAll(sh.dir)
	}
}

// Cluster is a Redis Cluster of redis-server children
// (cluster-node-timeout 2000 ms).
type Cluster struct {
	Addrs   []string // every node, masters first
	servers []*Server
}

// StartCluster starts n (>= 3) cluster-enabled masters and joins them
// with redis-cli --cluster create, then waits for cluster_state:ok on
// every node. Skips (or fails under CI) like Start.
func StartCluster(t testing.TB, n int) *Cluster { return StartClusterReplicas(t, n, 0) }

// StartClusterReplicas is StartCluster with replicas replicas per master;
// it also waits until every replica has synced with its master, so a
// killed master can fail over.
func StartClusterReplicas(t testing.TB, masters, replicas int) *Cluster {
	t.Helper()
	Require(t, "redis-server", "redis-cli")
	c := &Cluster{}
	for i := 0; i < masters*(1+replicas); i++ {
		s := newServer(t, clusterPort(t), t.TempDir(),
			"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000")
		s.mustStart()
		t.Cleanup(s.Stop)
		c.servers = append(c.servers, s)
		c.Addrs = append(c.Addrs, s.Addr)
	}
	args := append([]string{"--cluster", "create"}, c.Addrs...)
	args = append(args, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	if _, err := c.WaitOK(20*time.Second, nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, addr := range c.Addrs {
		for {
			info, err := Cmd(addr, "INFO", "replication")
			if err == nil && (strings.Contains(info, "role:master") || strings.Contains(info, "master_link_status:up")) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("replica %s never synced: %v %q", addr, err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return c
}

// WaitOK waits until every node but the stopped ones reports
// cluster_state:ok and sees each stopped node as failed and serving no
// slot (its replica promoted), and returns when that was first seen.
func (c *Cluster) WaitOK(within time.Duration, stopped map[string]bool) (time.Time, error) {
	deadline := time.Now().Add(within)
	for {
		ok := true
		var last string
		for _, addr := range c.Addrs {
			if stopped[addr] {
				continue
			}
			info, err := Cmd(addr, "CLUSTER", "INFO")
			if err != nil || !strings.Contains(info, "cluster_state:ok") {
				ok, last = false, fmt.Sprintf("%s: %v %q", addr, err, info)
				break
			}
			if err := failedOver(addr, stopped); err != nil {
				ok, last = false, err.Error()
				break
			}
		}
		if ok {
			return time.Now(), nil
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("cluster not ok within %s: %s", within, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// failedOver reports whether the node at addr sees every stopped node
// flagged fail (not just suspected) and owning no slot.
func failedOver(addr string, stopped map[string]bool) error {
	if len(stopped) == 0 {
		return nil
	}
	nodes, err := Cmd(addr, "CLUSTER", "NODES")
	if err != nil {
		return fmt.Errorf("%s: CLUSTER NODES: %v", addr, err)
	}
	// <id> <ip:port@cport> <flags> <master> <ping> <pong> <epoch> <link> <slot>...
	for _, line := range strings.Split(nodes, "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		host, _, _ := strings.Cut(f[1], "@")
		if !stopped[host] {
			continue
		}
		failed := false
		for _, flag := range strings.Split(f[2], ",") {
			failed = failed || flag == "fail"
		}
		if !failed || len(f) > 8 {
			return fmt.Errorf("%s still sees %s as %s with %d slot ranges", addr, host, f[2], len(f)-8)
		}
	}
	return nil
}

// MasterOf returns the node that serves key's hash slot as a master, as
// a live node other than the stopped ones sees it.
func (c *Cluster) MasterOf(key string, stopped map[string]bool) (*Server, error) {
	for _, addr := range c.Addrs {
		if stopped[addr] {
			continue
		}
		reply, err := Cmd(addr, "CLUSTER", "KEYSLOT", key)
		if err != nil {
			continue
		}
		slot, err := strconv.Atoi(strings.TrimPrefix(reply, ":"))
		if err != nil {
			return nil, fmt.Errorf("CLUSTER KEYSLOT %q: %q", key, reply)
		}
		nodes, err := Cmd(addr, "CLUSTER", "NODES")
		if err != nil {
			continue
		}
		// <id> <ip:port@cport> <flags> <master> <ping> <pong> <epoch> <link> <slot>...
		for _, line := range strings.Split(nodes, "\n") {
			f := strings.Fields(line)
			if len(f) < 9 || !strings.Contains(f[2], "master") || strings.Contains(f[2], "fail") {
				continue
			}
			for _, r := range f[8:] {
				lo, hi, _ := strings.Cut(r, "-")
				a, errA := strconv.Atoi(lo)
				b, errB := strconv.Atoi(hi)
				if hi == "" {
					b, errB = a, errA
				}
				if errA == nil && errB == nil && a <= slot && slot <= b {
					host, _, _ := strings.Cut(f[1], "@")
					for _, s := range c.servers {
						if s.Addr == host {
							return s, nil
						}
					}
				}
			}
		}
		return nil, fmt.Errorf("no master serves slot %d of %q", slot, key)
	}
	return nil, fmt.Errorf("no cluster node answers")
}

// PubsubClients reads CLIENT LIST TYPE pubsub on addr and returns how
// many clients have a non-zero count in field ("sub", "psub" or "ssub")
// and the sum of those counts.
func PubsubClients(addr, field string) (clients, subscriptions int, err error) {
	list, err := Cmd(addr, "CLIENT", "LIST", "TYPE", "pubsub")
	if err != nil {
		return 0, 0, err
	}
	for _, f := range strings.Fields(list) {
		if v, ok := strings.CutPrefix(f, field+"="); ok && v != "0" {
			n, _ := strconv.Atoi(v)
			clients, subscriptions = clients+1, subscriptions+n
		}
	}
	return clients, subscriptions, nil
}

// Cmd sends one command to addr in RESP and returns the reply: the
// payload of a bulk string ("" for nil), otherwise the reply line
// without its CRLF ("+PONG", ":1", "-ERR ...", "*2").
func Cmd(addr string, args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(c, b.String()); err != nil {
		return "", err
	}
	rd := bufio.NewReader(c)
	line, err := rd.ReadString('\n')
	if err != nil {
		return "", err
	}
	if strings.HasPrefix(line, "$") {
		n, err := strconv.Atoi(strings.TrimSpace(line[1:]))
		if err != nil {
			return "", fmt.Errorf("bad bulk length %q", line)
		}
		if n < 0 {
			return "", nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(rd, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func pickPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func freePort(t testing.TB) int {
	t.Helper()
	p, err := pickPort()
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	return p
}

// clusterPort returns a free port whose cluster bus port (+10000) is free too.
func clusterPort(t testing.TB) int {
	t.Helper()
	for i := 0; i < 100; i++ {
		p := freePort(t)
		if p+10000 > 65535 {
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+10000))
		if err != nil {
			continue
		}
		l.Close()
		return p
	}
	t.Fatal("no free port pair for a cluster node")
	return 0
}
