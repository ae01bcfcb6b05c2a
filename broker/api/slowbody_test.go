package api_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ionbus/ionbus/broker/api"
)

// A request body that trickles in is answered 408 at BodyTimeout and the
// connection is released; a body sent at once is read and answered
// after the deadline was lifted.
func TestSlowRequestBody(t *testing.T) {
	e := newEnv(t, api.Config{Key: testKey, BodyTimeout: 300 * time.Millisecond}, nil)
	ts := httptest.NewServer(e.api)
	t.Cleanup(ts.Close)
	conn, err := net.Dial("tcp", strings.TrimPrefix(ts.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	fmt.Fprintf(conn, "POST /api/v1/emit HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{", testKey)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				if _, err := conn.Write([]byte(" ")); err != nil {
					return
				}
			}
		}
	}()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a slow body after %v: %v", time.Since(start), err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestTimeout || time.Since(start) > 3*time.Second {
		t.Fatalf("slow body: %d after %v, want 408 near 300ms", res.StatusCode, time.Since(start))
	}

	// A body sent at once; the answer comes after BodyTimeout has passed.
	req, _ := http.NewRequest("POST", ts.URL+"/api/v1/emit", strings.NewReader(`{"event":"x","ack_timeout_ms":600}`))
	req.Header.Set("Authorization", "Bearer "+testKey)
	c := dialPolling(t, e.engine.URL)
	c.connect("/", "")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("emit with ack past BodyTimeout: %d", resp.StatusCode)
	}
}
