package bench

import (
	"io"
	"testing"
)

// TestSocketTemplates: {i} in --auth and --header values becomes the
// socket's number, unique across shards; without {i} nothing is copied.
func TestSocketTemplates(t *testing.T) {
	cfg, err := parseConfig([]string{"idle", "-n", "10", "--shard", "1/2",
		"--auth", `{"user":"u{i}"}`, "--header", "Cookie: session=s{i}; theme=dark", "--header", "X-Static: 1"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	tg, err := makeTarget("http://127.0.0.1:1", "/socket.io/", cfg.header)
	if err != nil {
		t.Fatal(err)
	}
	auth, got := cfg.socketOptions(3, tg)
	if string(auth) != `{"user":"u7"}` { // socket 3 of shard 1 of 2 is number 3*2+1
		t.Errorf("auth %s", auth)
	}
	if c := got.header.Get("Cookie"); c != "session=s7; theme=dark" {
		t.Errorf("cookie %q", c)
	}
	if got.header.Get("X-Static") != "1" || tg.header.Get("Cookie") != "session=s{i}; theme=dark" {
		t.Errorf("static header lost or the template changed: %v / %v", got.header, tg.header)
	}

	plain, err := parseConfig([]string{"idle", "--auth", `{"token":"x"}`}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	auth, same := plain.socketOptions(5, tg)
	if string(auth) != `{"token":"x"}` || same.header.Get("Cookie") != tg.header.Get("Cookie") {
		t.Errorf("untemplated: %s %v", auth, same.header)
	}
}
