package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/ionbus/ionbus/broker"
)

// Each test below runs one js/client.js scenario with socket.io-client
// against a fresh in-process broker; the script asserts what the client
// sees, the test asserts what the server saw. The scenarios pass against
// js/reference-server.js (socket.io@4.8.1) too.

func TestTransportWebsocket(t *testing.T) {
	ts := startServer(t, serverOptions{})
	res := runScenario(t, ts, "transport-websocket")
	id := res["id"].(string)
	conn := ts.log.waitFor(t, "connect", id)
	if conn.Transport != "websocket" || conn.SID != res["sid"] {
		t.Errorf("server connect record %+v, want transport websocket, sid %v", conn, res["sid"])
	}
	ts.log.waitFor(t, "disconnect", id)
	ts.waitIdle(t)
}

func TestTransportPolling(t *testing.T) {
	ts := startServer(t, serverOptions{})
	res := runScenario(t, ts, "transport-polling")
	id := res["id"].(string)
	if w := ts.log.waitFor(t, "whoami", id); w.Transport != "polling" {
		t.Errorf("server-side Transport() = %q, want polling", w.Transport)
	}
	if d := ts.log.waitFor(t, "disconnect", id); d.Reason != "client namespace disconnect" {
		t.Errorf("disconnect reason %q, want client namespace disconnect", d.Reason)
	}
	ts.waitIdle(t)
}

// TestPollingCompressed: socket.io-client's fetch polling transport
// accepts gzip; its 2 KiB answers arrive compressed and intact.
func TestPollingCompressed(t *testing.T) {
	ts := startServer(t, serverOptions{})
	res := runScenario(t, ts, "polling-compressed")
	if res["bytes"].(float64) < 1024 {
		t.Fatalf("payload of %v bytes is under the threshold", res["bytes"])
	}
	st := ts.srv.Engine().Stats()
	if st.PollsCompressed < 2 || st.PollBytesSaved == 0 {
		t.Fatalf("%d polling responses compressed, %d bytes saved; want the echo and the push", st.PollsCompressed, st.PollBytesSaved)
	}
	t.Logf("%d polling responses compressed, %d bytes saved", st.PollsCompressed, st.PollBytesSaved)
	ts.waitIdle(t)
}

// TestWebsocketDeflate: with engine.per_message_deflate the Node client
// negotiates permessage-deflate; large messages are compressed both ways.
func TestWebsocketDeflate(t *testing.T) {
	ts := startServer(t, serverOptions{perMessageDeflate: true})
	runScenario(t, ts, "websocket-deflate")
	st := ts.srv.Engine().Stats()
	// In: the 2 KiB event and the 4 KiB attachment; out: their echoes.
	if st.FramesInflated < 2 || st.FramesDeflated < 2 {
		t.Fatalf("%d messages received compressed, %d sent compressed; want 2 each at least", st.FramesInflated, st.FramesDeflated)
	}
	ts.waitIdle(t)
}

func TestTransportUpgrade(t *testing.T) {
	ts := startServer(t, serverOptions{})
	res := runScenario(t, ts, "transport-upgrade")
	id := res["id"].(string)
	conn := ts.log.waitFor(t, "connect", id)
	if conn.Transport != "polling" && conn.Transport != "websocket" {
		t.Errorf("connect transport %q", conn.Transport)
	}
	if w := ts.log.waitFor(t, "whoami", id); w.Transport != "websocket" {
		t.Errorf("server-side Transport() after upgrade = %q, want websocket", w.Transport)
	}
	ts.waitIdle(t)
}

func TestUpgradeOrdering(t *testing.T) {
	ts := startServer(t, serverOptions{})
	runScenario(t, ts, "upgrade-ordering")
	ts.waitIdle(t)
}

func TestShutdown(t *testing.T) {
	ts := startServer(t, serverOptions{})
	res := runScenario(t, ts, "shutdown")
	for _, id := range res["ids"].([]any) {
		if d := ts.log.waitFor(t, "disconnect", id.(string)); d.Reason != "server shutting down" {
			t.Errorf("socket %s: reason %q, want server shutting down", id, d.Reason)
		}
	}
	ts.waitIdle(t)
}

func TestAcks(t *testing.T) {
	ts := startServer(t, serverOptions{})
	runScenario(t, ts, "acks")
	ts.waitIdle(t)
}

func TestBinary(t *testing.T) {
	for _, transport := range []string{"websocket", "polling"} {
		t.Run(transport, func(t *testing.T) {
			ts := startServer(t, serverOptions{})
			runScenario(t, ts, "binary", "TRANSPORT="+transport)
			ts.waitIdle(t)
		})
	}
}

// TestMsgpackParser: socket.io-client with socket.io-msgpack-parser
// against a node with parser msgpack, over both transports and the
// upgrade: events, acks both ways, nested binary, rooms, namespaces.
func TestMsgpackParser(t *testing.T) {
	for _, sc := range []struct{ name, transport string }{
		{"binary", "websocket"}, {"binary", "polling"}, {"acks", ""}, {"rooms", ""},
		{"multiplex", ""}, {"transport-upgrade", ""}, {"disconnect", "polling"},
	} {
		t.Run(sc.name+"/"+sc.transport, func(t *testing.T) {
			ts := startServer(t, serverOptions{parser: broker.ParserMsgpack})
			env := []string{"PARSER=msgpack"}
			if sc.transport != "" {
				env = append(env, "TRANSPORT="+sc.transport)
			}
			runScenario(t, ts, sc.name, env...)
			if st := ts.srv.Stats(); st.ParseErrors != 0 {
				t.Fatalf("%d parse errors", st.ParseErrors)
			}
			ts.waitIdle(t)
		})
	}
}

func TestMultiplexNamespaces(t *testing.T) {
	ts := startServer(t, serverOptions{})
	res := runScenario(t, ts, "multiplex")
	sid := res["sid"].(string)
	var nsps []string
	for _, id := range res["ids"].([]any) {
		rec := ts.log.waitFor(t, "connect", id.(string))
		if rec.SID != sid {
			t.Errorf("socket %s of %s rides session %s, want %s", rec.ID, rec.Nsp, rec.SID, sid)
		}
		nsps = append(nsps, rec.Nsp)
	}
	if !slices.Equal(nsps, []string{"/a", "/b", "/c"}) {
		t.Errorf("namespaces %v", nsps)
	}
	ts.waitIdle(t)
}

func TestRoomBroadcast(t *testing.T) {
	ts := startServer(t, serverOptions{})
	r := startNode(t, "client.js", []string{"URL=" + ts.url, "TIMEOUT_MS=20000", "GO_DRIVEN=1"}, "rooms")
	res := r.next("result", 15*time.Second)["result"].(map[string]any)
	ids := res["ids"].([]any)
	r.next("ready", 5*time.Second)
	// The room index as the script set it up; the script waits for us.
	ns := ts.srv.Of("/")
	for i, want := range [][]string{{"r1"}, {"r1", "r2"}, {"r2"}, {}, {"r1"}} {
		id := ids[i].(string)
		s := ns.Socket(id)
		if s == nil {
			t.Fatalf("client %d (%s) is not connected", i, id)
		}
		got := s.Rooms()
		sort.Strings(got)
		want = append(want, id)
		sort.Strings(want)
		if !slices.Equal(got, want) {
			t.Errorf("client %d rooms %v, want %v", i, got, want)
		}
	}
	// The script expects this broadcast ("n0") to reach clients 0 and 4
	// only, before everything it triggers itself.
	if err := ts.srv.To("r1").Except("r2").Emit("news", "n0"); err != nil {
		t.Fatalf("srv.To(r1).Except(r2).Emit: %v", err)
	}
	r.send("go")
	r.wait()
	ts.waitIdle(t)
	if rooms := ns.Rooms(); len(rooms) != 0 {
		t.Errorf("rooms left after every socket left: %v", rooms)
	}
}

func TestServerDisconnect(t *testing.T) {
	for _, transport := range []string{"websocket", "polling"} {
		t.Run(transport, func(t *testing.T) {
			ts := startServer(t, serverOptions{})
			res := runScenario(t, ts, "disconnect", "TRANSPORT="+transport)
			for key, want := range map[string]string{
				"a": "server namespace disconnect",
				"b": "server namespace disconnect",
				"c": "client namespace disconnect",
			} {
				if got := ts.log.waitFor(t, "disconnect", res[key].(string)); got.Reason != want {
					t.Errorf("socket %s: reason %q, want %q", key, got.Reason, want)
				}
			}
			ts.waitIdle(t)
		})
	}
}

func TestHeartbeatTimeout(t *testing.T) {
	const interval, timeout = 300 * time.Millisecond, 200 * time.Millisecond
	for _, transport := range []string{"websocket", "polling"} {
		t.Run(transport, func(t *testing.T) {
			ts := startServer(t, serverOptions{pingInterval: interval, pingTimeout: timeout})
			res := runScenario(t, ts, "heartbeat", "TRANSPORT="+transport,
				fmt.Sprintf("PING_INTERVAL_MS=%d", interval.Milliseconds()),
				fmt.Sprintf("PING_TIMEOUT_MS=%d", timeout.Milliseconds()))
			id := res["id"].(string)
			conn := ts.log.waitFor(t, "connect", id)
			disc := ts.log.waitFor(t, "disconnect", id)
			if disc.Reason != "ping timeout" {
				t.Errorf("reason %q, want ping timeout", disc.Reason)
			}
			// The reference closes at interval+timeout after the handshake
			// (about 500ms measured); allow scheduling slack but not a
			// second interval.
			if d := disc.At.Sub(conn.At); d < interval+timeout-50*time.Millisecond || d > interval+timeout+interval {
				t.Errorf("closed %v after connect, want about %v", d, interval+timeout)
			}
			ts.waitIdle(t)
		})
	}
}

func TestConnectionStateRecovery(t *testing.T) {
	// The recovering client on each transport; "default" is polling then
	// the upgrade, what io(url) does.
	for _, transport := range []string{"websocket", "polling", "default"} {
		t.Run(transport, func(t *testing.T) {
			ts := startServer(t, serverOptions{recovery: time.Minute})
			res := runScenario(t, ts, "recovery", "TRANSPORT="+transport)
			id := res["id"].(string)
			var connects, recovered int
			for _, r := range ts.log.all() {
				if r.Kind == "connect" && r.ID == id {
					connects++
					if r.Recovered {
						recovered++
					}
				}
			}
			if connects != 2 || recovered != 1 {
				t.Errorf("socket %s: %d connects, %d recovered; want 2 and 1", id, connects, recovered)
			}
			ts.waitIdle(t)
		})
	}
}

func TestConnectionStateRecoveryExpired(t *testing.T) {
	const maxDisconnection = 300 * time.Millisecond
	ts := startServer(t, serverOptions{recovery: maxDisconnection})
	res := runScenario(t, ts, "recovery-expired", fmt.Sprintf("RECOVERY_MS=%d", maxDisconnection.Milliseconds()))
	if rec := ts.log.waitFor(t, "connect", res["id"].(string)); rec.Recovered {
		t.Errorf("socket %s recovered after maxDisconnection", rec.ID)
	}
	ts.waitIdle(t)
}

func TestMiddlewareAndNamespaces(t *testing.T) {
	ts := startServer(t, serverOptions{})
	res := runScenario(t, ts, "middleware")
	if rec := ts.log.waitFor(t, "connect", res["dyn"].(string)); rec.Nsp != "/dyn-42" {
		t.Errorf("dynamic namespace socket in %q", rec.Nsp)
	}
	for _, r := range ts.log.all() {
		if r.Kind == "connect" && r.Nsp == "/auth" && r.Recovered {
			t.Errorf("unexpected recovered socket %+v", r)
		}
	}
	ts.waitIdle(t)
}

func TestAPIEmit(t *testing.T) {
	ts := startServer(t, serverOptions{})
	r := startNode(t, "client.js", []string{"URL=" + ts.url, "TIMEOUT_MS=20000"}, "api-emit")
	ready := r.next("ready", 15*time.Second)["ready"].(map[string]any)
	ids := ready["ids"].([]any)

	post := func(key string, body any) (int, map[string]any) {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(http.MethodPost, ts.apiURL+"/api/v1/emit", bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("POST /api/v1/emit: %v", err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var out map[string]any
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("POST /api/v1/emit: status %d, body %q: %v", resp.StatusCode, raw, err)
		}
		return resp.StatusCode, out
	}

	// A bad key is refused and nothing is delivered (the "done" marker
	// below proves nothing arrived before it).
	if code, body := post("wrong", map[string]any{"event": "api-news", "rooms": []string{"api-room"}, "data": []any{"leak"}}); code != http.StatusUnauthorized || fmt.Sprint(body["error"]) != fmt.Sprint(map[string]any{"code": "UNAUTHORIZED", "message": "missing or invalid API key (Authorization: Bearer <key>)"}) {
		t.Errorf("bad key: %d %v, want 401 UNAUTHORIZED", code, body)
	}
	if code, _ := post("", map[string]any{"event": "api-news", "data": []any{"leak"}}); code != http.StatusUnauthorized {
		t.Errorf("no key: %d, want 401", code)
	}
	if code, body := post(apiKey, map[string]any{"event": "api-news", "rooms": []string{"api-room"}, "data": []any{"hello", map[string]any{"n": 1}}}); code != http.StatusAccepted || body["ok"] != true {
		t.Errorf("emit: %d %v, want 202 ok", code, body)
	}
	code, body := post(apiKey, map[string]any{"event": "api-question", "rooms": []string{"api-room"}, "except": []string{"x"}, "data": []any{"q1"}, "ack_timeout_ms": 5000})
	if code != http.StatusOK || body["timed_out"] == true {
		t.Errorf("emit with ack: %d %v, want 200 without timeout", code, body)
	}
	if got := fmt.Sprint(body["responses"]); got != "[[map[from:0 q:q1]]]" {
		t.Errorf("ack responses %s, want only client 0's answer", got)
	}
	// The room's sockets as the API reports them.
	req, _ := http.NewRequest(http.MethodGet, ts.apiURL+"/api/v1/sockets?room=api-room", nil)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Errorf("GET /api/v1/sockets: %v", err)
	} else {
		var list struct {
			Count   int
			Sockets []struct{ ID string }
		}
		err := json.NewDecoder(resp.Body).Decode(&list)
		resp.Body.Close()
		var got []string
		for _, s := range list.Sockets {
			got = append(got, s.ID)
		}
		sort.Strings(got)
		want := []string{ids[0].(string), ids[2].(string)}
		sort.Strings(want)
		if err != nil || resp.StatusCode != http.StatusOK || list.Count != 2 || !slices.Equal(got, want) {
			t.Errorf("GET /api/v1/sockets?room=api-room: %d %v %+v; want sockets %v", resp.StatusCode, err, list, want)
		}
	}
	if code, _ := post(apiKey, map[string]any{"event": "api-done"}); code != http.StatusAccepted {
		t.Errorf("emit api-done: %d", code)
	}
	got := r.next("result", 10*time.Second)["result"].(map[string]any)["got"].([]any)
	want := `[[[hello map[n:1]]] [] [[hello map[n:1]]]]`
	if fmt.Sprint(got) != want {
		t.Errorf("clients %v got %v, want %s", ids, got, want)
	}
	r.wait()
	ts.waitIdle(t)
}
