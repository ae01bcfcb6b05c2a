package connection

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestAcceptedEncoding(t *testing.T) {
	for header, want := range map[string]string{
		"":                             "",
		"gzip":                         "gzip",
		"deflate":                      "deflate",
		"gzip, deflate, br":            "gzip",
		"deflate, gzip":                "gzip", // equal quality: gzip
		"gzip;q=0.5, deflate":          "deflate",
		"GZIP;Q=1":                     "gzip",
		"br":                           "",
		"identity":                     "",
		"*":                            "gzip",
		"*;q=0.3, gzip;q=0":            "deflate",
		"gzip;q=0, deflate;q=0":        "",
		"gzip ; q=0.8 , deflate;q=0.9": "deflate",
	} {
		if got := acceptedEncoding(header); got != want {
			t.Errorf("Accept-Encoding %q: %q, want %q", header, got, want)
		}
	}
}

// A polling GET of at least the threshold is compressed as the request
// accepts; smaller ones, requests that accept neither encoding and a
// server with compression disabled get the body as is.
func TestPollingCompression(t *testing.T) {
	big := "4" + strings.Repeat(`{"progress":42,"file":"report.pdf"},`, 60) // ~2 KiB
	small := "4" + strings.Repeat("x", 100)
	decode := func(enc, body string) string {
		var r io.Reader
		var err error
		switch enc {
		case "gzip":
			r, err = gzip.NewReader(strings.NewReader(body))
		case "deflate":
			r, err = zlib.NewReader(strings.NewReader(body))
		default:
			return body
		}
		if err != nil {
			t.Fatalf("%s body: %v", enc, err)
		}
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("%s body: %v", enc, err)
		}
		return string(b)
	}
	cases := []struct {
		name, accept, body, want string
		disabled                 bool
	}{
		{"gzip", "gzip, deflate", big, "gzip", false},
		{"deflate", "deflate", big, "deflate", false},
		{"below threshold", "gzip", small, "", false},
		{"not accepted", "br", big, "", false},
		{"disabled", "gzip", big, "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newRecorder()
			h.echo = true
			x := newTestServer(t, Config{HTTPCompression: HTTPCompression{Disabled: c.disabled}}, h)
			sid := x.open()
			x.do("POST", "EIO=4&transport=polling&sid="+sid, c.body)
			// An explicit Accept-Encoding keeps net/http from decoding.
			r := x.do("GET", "EIO=4&transport=polling&sid="+sid, "", "Accept-Encoding", c.accept)
			if r.status != 200 {
				t.Fatalf("GET: %d", r.status)
			}
			if got := r.header.Get("Content-Encoding"); got != c.want {
				t.Fatalf("Content-Encoding %q, want %q", got, c.want)
			}
			if c.want != "" && len(r.body) >= len(c.body)/2 {
				t.Errorf("%d bytes compressed to %d", len(c.body), len(r.body))
			}
			if got := decode(c.want, r.body); got != c.body {
				t.Fatalf("body %q, want %q", got, c.body)
			}
			st := x.srv.Stats()
			if compressed := c.want != ""; compressed != (st.PollsCompressed == 1) || compressed != (st.PollBytesSaved > 0) {
				t.Fatalf("stats: %d compressed, %d bytes saved", st.PollsCompressed, st.PollBytesSaved)
			}
		})
	}
}

// Pooled compressors carry no state from one response into the next.
func TestPollingCompressionPooled(t *testing.T) {
	h := newRecorder()
	h.echo = true
	x := newTestServer(t, Config{HTTPCompression: HTTPCompression{Threshold: 10}}, h)
	sid := x.open()
	for i := 0; i < 20; i++ {
		body := "4" + strings.Repeat(string(rune('a'+i)), 100+i*37)
		x.do("POST", "EIO=4&transport=polling&sid="+sid, body)
		r := x.do("GET", "EIO=4&transport=polling&sid="+sid, "", "Accept-Encoding", "gzip")
		zr, err := gzip.NewReader(bytes.NewReader([]byte(r.body)))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(zr)
		if string(got) != body {
			t.Fatalf("round %d: %q", i, got)
		}
	}
}

// BenchmarkCompressBody: one 2 KiB JSON polling body, gzip, pooled.
func BenchmarkCompressBody(b *testing.B) {
	srv := newServer(Config{}.withDefaults(), newRecorder())
	body := []byte("4" + eventJSON(2048))
	req := httptest.NewRequest("GET", "/engine.io/", nil)
	req.Header.Set("Accept-Encoding", "gzip, deflate")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	var n int
	for b.Loop() {
		_, out, release := srv.compressBody(req, body)
		n = len(out)
		release()
	}
	b.ReportMetric(float64(n), "bytes-out")
}

// eventJSON is a Socket.IO event of about n bytes that compresses like a
// real one: a list of notifications with distinct ids, times and figures.
func eventJSON(n int) string {
	var sb strings.Builder
	sb.WriteString(`42["notifications",[`)
	x := uint32(2463534242)
	for i := 0; sb.Len() < n-40; i++ {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"id":"%08x","user":"u%d","kind":"download","progress":%d,"at":%d}`, x, x%997, x%101, 1765000000+x%86400)
	}
	sb.WriteString(`]]`)
	return sb.String()
}
