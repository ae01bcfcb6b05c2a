package connection

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// HTTPCompression controls the compression of polling responses, as the
// reference's httpCompression option: a body of at least Threshold bytes
// is sent gzip- or deflate-encoded when the request's Accept-Encoding
// allows it (gzip preferred at equal quality).
type HTTPCompression struct {
	// Disabled sends every polling response as is. Default false (on).
	Disabled bool
	// Threshold is the smallest body, in bytes, worth compressing.
	// Default 1024.
	Threshold int
}

const (
	encodingGzip    = "gzip"
	encodingDeflate = "deflate" // the zlib format (RFC 1950), as HTTP means it
)

// Compressors are pooled: each holds about 800 KB of deflate state, far
// too much to build per response.
var (
	gzipWriters  = sync.Pool{New: func() any { return gzip.NewWriter(io.Discard) }}
	zlibWriters  = sync.Pool{New: func() any { return zlib.NewWriter(io.Discard) }}
	compressBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}
)

// resetWriter is what *gzip.Writer and *zlib.Writer share.
type resetWriter interface {
	io.WriteCloser
	Reset(io.Writer)
}

// acceptedEncoding picks gzip or deflate from an Accept-Encoding header,
// or "" when the client accepts neither. Quality values count; "*"
// stands for either when it is not named.
func acceptedEncoding(header string) string {
	if header == "" {
		return ""
	}
	q := map[string]float64{}
	for _, part := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(part, ";")
		name = strings.ToLower(strings.TrimSpace(name))
		weight := 1.0
		for _, p := range strings.Split(params, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
					weight = f
				}
			}
		}
		if _, seen := q[name]; !seen {
			q[name] = weight
		}
	}
	weight := func(enc string) float64 {
		if w, ok := q[enc]; ok {
			return w
		}
		return q["*"] // 0 when absent
	}
	g, d := weight(encodingGzip), weight(encodingDeflate)
	switch {
	case g > 0 && g >= d:
		return encodingGzip
	case d > 0:
		return encodingDeflate
	}
	return ""
}

// compressBody encodes body for r when the configuration and the request
// allow it, returning the encoding ("" = none) and the bytes to send. The
// returned slice is valid until release is called.
func (srv *Server) compressBody(r *http.Request, body []byte) (encoding string, out []byte, release func()) {
	c := srv.cfg.HTTPCompression
	if c.Disabled || len(body) < c.Threshold {
		return "", body, func() {}
	}
	encoding = acceptedEncoding(r.Header.Get("Accept-Encoding"))
	if encoding == "" {
		return "", body, func() {}
	}
	buf := compressBufs.Get().(*bytes.Buffer)
	buf.Reset()
	pool := &zlibWriters
	if encoding == encodingGzip {
		pool = &gzipWriters
	}
	w := pool.Get().(resetWriter)
	w.Reset(buf)
	_, err := w.Write(body)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	pool.Put(w)
	if err != nil { // writing to memory: not expected, send it plain
		compressBufs.Put(buf)
		return "", body, func() {}
	}
	srv.counters.compressed.Add(1)
	srv.counters.compressedSaved.Add(uint64(max(len(body)-buf.Len(), 0)))
	return encoding, buf.Bytes(), func() {
		if buf.Cap() <= 1<<20 { // do not pin an unusually large buffer
			compressBufs.Put(buf)
		}
	}
}
