package integration

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ionbus/ionbus/broker/bridge"
)

// readmeBlock returns the first fenced block of lang in README.md that
// contains marker.
func readmeBlock(t *testing.T, lang, marker string) string {
	t.Helper()
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	rest := string(data)
	for {
		_, after, ok := strings.Cut(rest, "```"+lang+"\n")
		if !ok {
			t.Fatalf("README has no ```%s block with %q", lang, marker)
		}
		block, tail, _ := strings.Cut(after, "```")
		if strings.Contains(block, marker) {
			return block
		}
		rest = tail
	}
}

// TestREADMESignatureSnippets runs the README's Python and Node
// verification snippets, as pasted, on what ionbus signs: a genuine
// request passes; a tampered body, a wrong secret and a replayed (old)
// timestamp fail.
func TestREADMESignatureSnippets(t *testing.T) {
	py := requireTool(t, "python3")
	node := requireNode(t)
	secret := []byte("readme-secret")
	body := []byte(`{"type":"event","namespace":"/","event":"pause_job","args":[1],"ack":true}`)
	now := time.Now()
	cases := []struct {
		name, secret, header, body string
		want                       string
	}{
		{"genuine", string(secret), bridge.Sign(secret, now, body), string(body), "true"},
		{"tampered body", string(secret), bridge.Sign(secret, now, body), strings.Replace(string(body), "[1]", "[2]", 1), "false"},
		{"wrong secret", "other", bridge.Sign(secret, now, body), string(body), "false"},
		{"replayed", string(secret), bridge.Sign(secret, now.Add(-time.Hour), body), string(body), "false"},
		{"garbage header", string(secret), "t=abc,v1=zz", string(body), "false"},
	}
	pyProg := readmeBlock(t, "python", "def verify") + `
import os, sys
print(str(verify(os.environ["SECRET"].encode(), os.environ["HEADER"], sys.stdin.buffer.read())).lower())
`
	jsProg := readmeBlock(t, "js", "function verify") + `
let chunks = [];
process.stdin.on("data", (c) => chunks.push(c)).on("end", () =>
  console.log(String(verify(process.env.SECRET, process.env.HEADER, Buffer.concat(chunks)))));
`
	for _, tc := range cases {
		for _, run := range []struct{ lang, bin, flag, prog string }{{"python", py, "-c", pyProg}, {"node", node, "-e", jsProg}} {
			cmd := exec.Command(run.bin, run.flag, run.prog)
			cmd.Env = append(os.Environ(), "SECRET="+tc.secret, "HEADER="+tc.header)
			cmd.Stdin = strings.NewReader(tc.body)
			out, err := cmd.CombinedOutput()
			if got := strings.TrimSpace(string(out)); err != nil || got != tc.want {
				t.Errorf("%s, %s snippet: got %q (%v), want %s", tc.name, run.lang, got, err, tc.want)
			}
		}
	}
}
