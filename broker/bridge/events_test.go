package bridge

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ionbus/ionbus/broker/access"
)

var httpRules = NamespaceRules{Events: []EventRule{{Match: []string{"request_status", "pause_*", "join", "whoami"}, Via: ViaHTTP}}}

// TestEventAnswer: the event hook's body, and an answer's join, leave,
// emits (in order, before the ack) and ack.
func TestEventAnswer(t *testing.T) {
	bk := newBackend(t, func(r *hookRequest) (int, string) {
		if r.Type == HookConnect {
			return 200, `{"user":{"id":"u1","name":"Ada","roles":["staff"]},"data":{"plan":"pro"},"rooms":["old"]}`
		}
		return 200, `{"join":["job:9"],"leave":["old"],"emit":[{"event":"status","args":[1]},{"event":"status","args":[2,"x"]}],"ack":[{"state":"running"},3]}`
	})
	n := startNode(t, bk, nodeOptions{rules: httpRules})
	c := dial(t, n, "/", cookieHeader("s=1"))
	ack := c.call("pause_job", map[string]any{"id": 9, "big": json.Number("12345678901234567890")}, "<&>")
	if string(ack[0]) != `{"state":"running"}` || string(ack[1]) != "3" {
		t.Fatalf("ack %s", ack)
	}
	// The emits arrived before the ack (one connection, in order).
	evs := c.takeEvents()
	if len(evs) != 2 || evs[0].name != "status" || string(evs[0].data) != "1" || string(evs[1].data) != "2" {
		t.Fatalf("emits %+v", evs)
	}
	rooms := decode[[]string](t, c.call("rooms")[0])
	if !contains(rooms, "job:9") || contains(rooms, "old") {
		t.Fatalf("rooms %v", rooms)
	}
	r := bk.requests(HookEvent)[0]
	if r.Header.Get(SignatureHeader) != "" {
		t.Fatal("signed without a secret")
	}
	want := `{"type":"event","namespace":"/","event":"pause_job","args":[{"big":12345678901234567890,"id":9},"<&>"],"ack":true,` +
		`"socket":{"id":"` + c.sid + `","user":{"id":"u1","name":"Ada","roles":["staff"]},"rooms":["` + c.sid + `","old"],"data":{"plan":"pro"}}}`
	if string(r.Raw) != want {
		t.Fatalf("event body\n got %s\nwant %s", r.Raw, want)
	}
	// Without an ack the backend is told so and nothing is acked.
	c.emit("request_status")
	waitFor(t, "the second event", func() bool { return len(bk.requests(HookEvent)) == 2 })
	if bk.requests(HookEvent)[1].Body["ack"] != false {
		t.Fatalf("ack flag %v", bk.requests(HookEvent)[1].Body)
	}
	if st := n.bridge.Stats(); st.Events.ForwardedHTTP != 2 {
		t.Fatalf("stats %+v", st.Events)
	}
}

// TestEventRouting: built-in and application handlers win over the rules
// (even a rule naming them); events matching no rule are not forwarded.
func TestEventRouting(t *testing.T) {
	bk := newBackend(t, admitAll)
	n := startNode(t, bk, nodeOptions{rules: httpRules})
	c := dial(t, n, "/", nil)
	if who := c.call("whoami"); string(who[0]) != `{"id":"u1","name":"Ada","roles":["staff"]}` { // the node's handler
		t.Fatalf("whoami %s", who)
	}
	c.call("join", "r1")
	c.emit("unmatched")
	c.call("pause_x")
	if got := len(bk.requests(HookEvent)); got != 1 || bk.requests(HookEvent)[0].Body["event"] != "pause_x" {
		t.Fatalf("forwarded %d events", got)
	}
}

// TestEventErrors: the backend's error answer, an unusable backend and an
// oversized event reach the client as the standard error event and as
// the ack's first argument.
func TestEventErrors(t *testing.T) {
	var answer atomic.Value
	answer.Store(`{"error":{"code":"JOB_LOCKED","message":"locked","data":{"by":"u2"}},"ack":["ignored"]}`)
	bk := newBackend(t, func(r *hookRequest) (int, string) {
		if r.Type == HookConnect {
			return 200, `{"user":{"id":"u1"}}`
		}
		a := answer.Load().(string)
		if a == "503" {
			return 503, ``
		}
		return 200, a
	})
	n := startNode(t, bk, nodeOptions{rules: httpRules, cfg: Config{MaxBodyBytes: 2048}})
	c := dial(t, n, "/", nil)
	check := func(ack []json.RawMessage, code string, retry bool) errorPayload {
		t.Helper()
		a := decode[errorPayload](t, ack[0])
		e := decode[errorPayload](t, c.waitEvent("error"))
		if a.Code != code || e.Code != code || a.Retry != retry || e.Details["event"] != "pause_x" {
			t.Fatalf("ack %+v event %+v, want %s", a, e, code)
		}
		return a
	}
	a := check(c.call("pause_x"), "JOB_LOCKED", false)
	if a.Message != "locked" || a.Details["data"].(map[string]any)["by"] != "u2" {
		t.Fatalf("error %+v", a)
	}
	for _, bad := range []string{"503", `{"ack":`, `{"emit":[{"event":"connect"}]}`, `{"join":[""]}`, `{"error":{"message":"no code"}}`, `{"ack":[{"_binary":true,"base64":"!!"}]}`} {
		answer.Store(bad)
		check(c.call("pause_x"), access.CodeBackendUnavailable, true)
	}
	check(c.call("pause_x", string(make([]byte, 3000))), access.CodeMessageTooLarge, false)
	if st := n.bridge.Stats(); st.Events.Errors != 8 || st.Failures[kindRequestTooLarge] != 1 || st.Failures[kindInvalid] != 5 {
		t.Fatalf("stats %+v %v", st.Events, st.Failures)
	}
}

// TestEventOrder: 1000 events of one socket reach the backend in the order
// sent, with at most MaxInflightPerSocket pending, and the worker
// goroutine exits once the queue is empty.
func TestEventOrder(t *testing.T) {
	var mu sync.Mutex
	var got []int
	bk := newBackend(t, func(r *hookRequest) (int, string) {
		if r.Type == HookConnect {
			return 200, `{"user":{"id":"u1"}}`
		}
		i, _ := strconv.Atoi(string(r.Body["args"].([]any)[0].(json.Number)))
		mu.Lock()
		got = append(got, i)
		mu.Unlock()
		return 200, `{}`
	})
	const total = 1000
	n := startNode(t, bk, nodeOptions{rules: httpRules, cfg: Config{MaxInflightPerSocket: total}})
	c := dial(t, n, "/", nil)
	for i := range total {
		c.emit("pause_"+strconv.Itoa(i%3), i)
	}
	waitFor(t, "every event", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == total
	})
	for i, v := range got {
		if v != i {
			t.Fatalf("event %d arrived as number %d", v, i)
		}
	}
	s := n.srv.Of("/").Socket(c.sid)
	st := existingState(s)
	waitFor(t, "the worker to exit", func() bool {
		st.mu.Lock()
		defer st.mu.Unlock()
		return !st.running && st.queue == nil && st.inflight == 0
	})
}

// TestEventBusy: past MaxInflightPerSocket an event is refused at once
// with BACKEND_BUSY; the others are still answered in order.
func TestEventBusy(t *testing.T) {
	release := make(chan struct{})
	bk := newBackend(t, func(r *hookRequest) (int, string) {
		if r.Type == HookConnect {
			return 200, `{"user":{"id":"u1"}}`
		}
		<-release
		return 200, fmt.Sprintf(`{"ack":[%s]}`, r.Body["args"].([]any)[0])
	})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	defer unblock()
	n := startNode(t, bk, nodeOptions{rules: httpRules, cfg: Config{MaxInflightPerSocket: 3, Timeout: 10 * time.Second}})
	c := dial(t, n, "/", nil)
	var chans []chan string
	for i := range 3 {
		chans = append(chans, c.send("pause_x", i))
	}
	waitFor(t, "the first event at the backend", func() bool { return len(bk.requests(HookEvent)) == 1 })
	busy := c.call("pause_x", 99)
	if e := decode[errorPayload](t, busy[0]); e.Code != CodeBackendBusy || !e.Retry {
		t.Fatalf("busy ack %+v", e)
	}
	unblock()
	for i, ch := range chans {
		if a := c.wait(ch, "pause_x"); string(a[0]) != strconv.Itoa(i) {
			t.Fatalf("ack %d: %s", i, a)
		}
	}
	if st := n.bridge.Stats(); st.Events.RefusedBusy != 1 {
		t.Fatalf("stats %+v", st.Events)
	}
}

// TestEventBinary: binary arguments reach the backend as
// {"_binary":true,"base64":…}, and markers in its answer come back as
// binary attachments.
func TestEventBinary(t *testing.T) {
	bk := newBackend(t, func(r *hookRequest) (int, string) {
		if r.Type == HookConnect {
			return 200, `{"user":{"id":"u1"}}`
		}
		arg := r.Body["args"].([]any)[0].(map[string]any)
		file := arg["file"].(map[string]any)
		raw, _ := base64.StdEncoding.DecodeString(file["base64"].(string))
		back := base64.StdEncoding.EncodeToString(append(raw, '!'))
		return 200, `{"ack":[{"echo":{"_binary":true,"base64":"` + back + `"}}]}`
	})
	n := startNode(t, bk, nodeOptions{rules: httpRules})
	c := dial(t, n, "/", nil)
	ack := c.wait(c.sendRaw("51-", `["pause_upload",{"file":{"_placeholder":true,"num":0}}]`, [][]byte{{0, 1, 2, 0xff}}), "upload")
	if string(ack[0]) != `{"echo":{"_placeholder":true,"num":0}}` {
		t.Fatalf("ack %s", ack)
	}
	waitFor(t, "the attachment", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.binaries) == 1
	})
	if !reflect.DeepEqual(c.binaries[0], []byte{0, 1, 2, 0xff, '!'}) {
		t.Fatalf("attachment %v", c.binaries[0])
	}
	file := bk.requests(HookEvent)[0].Body["args"].([]any)[0].(map[string]any)["file"].(map[string]any)
	if file["_binary"] != true || file["base64"] != base64.StdEncoding.EncodeToString([]byte{0, 1, 2, 0xff}) {
		t.Fatalf("marker %v", file)
	}
}

// TestEventBackendDown: an unreachable backend answers the client with
// BACKEND_UNAVAILABLE; so does an event after Shutdown began.
func TestEventBackendDown(t *testing.T) {
	bk := newBackend(t, admitAll)
	n := startNode(t, bk, nodeOptions{rules: httpRules})
	c := dial(t, n, "/", nil)
	bk.ts.Close()
	if e := decode[errorPayload](t, c.call("pause_x")[0]); e.Code != access.CodeBackendUnavailable || !e.Retry {
		t.Fatalf("ack %+v", e)
	}
}
