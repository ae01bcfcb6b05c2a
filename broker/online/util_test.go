package online

import (
	"bytes"
	"net/http"
	"net/http/httptest"

	"github.com/ionbus/ionbus/broker"
)

type recorder struct {
	status int
	header http.Header
	body   bytes.Buffer
}

func newRecorder() *recorder { return &recorder{header: make(http.Header)} }

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *recorder) WriteHeader(s int)           { r.status = s }

func newHTTPServer(h http.Handler) *httptest.Server { return httptest.NewServer(h) }

// newTestServer is a broker with the test join/leave events.
func newTestServer(id string) (*broker.Server, error) {
	srv, err := broker.New(broker.Config{NodeID: id})
	if err != nil {
		return nil, err
	}
	addRoomEvents(srv.Of("/"))
	return srv, nil
}
