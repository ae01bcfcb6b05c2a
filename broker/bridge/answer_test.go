package bridge

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/ionbus/ionbus/broker/protocol"
)

func TestDecodeAnswer(t *testing.T) {
	ok := []struct {
		in    string
		check func(*answer) bool
	}{
		{`{}`, func(a *answer) bool { return a.User == nil && a.Error == nil && a.Data == nil }},
		{`{"user":null}`, func(a *answer) bool { return a.User == nil }},
		{`{"user":{"id":"u","name":"n","roles":["a"],"email":"e"},"data":{"x":1},"rooms":["r"]}`, func(a *answer) bool {
			return a.User.ID == "u" && a.User.Name == "n" && reflect.DeepEqual(a.User.Roles, []string{"a"}) &&
				a.User.Claims["email"] == "e" && string(a.Data) == `{"x":1}` && reflect.DeepEqual(a.Rooms, []string{"r"})
		}},
		{`{"error":{"code":"C","message":"m","data":[1]}}`, func(a *answer) bool {
			return a.Error.Code == "C" && a.Error.Message == "m" && reflect.DeepEqual(a.Error.Data, []any{json.Number("1")})
		}},
		{`{"ack":[1.5,{"b":{"_binary":true,"base64":"AAE="}},[{"_binary":true,"base64":""}]]}`, func(a *answer) bool {
			return reflect.DeepEqual(a.Ack, []any{json.Number("1.5"), map[string]any{"b": []byte{0, 1}}, []any{[]byte{}}})
		}},
		{`{"ack":[{"_binary":false,"base64":"x"}]}`, func(a *answer) bool { // not a marker
			return reflect.DeepEqual(a.Ack, []any{map[string]any{"_binary": false, "base64": "x"}})
		}},
		{`{"emit":[{"event":"e","args":[{"_binary":true,"base64":"AQ=="}]},{"event":"f"}],"join":["a"],"leave":["b"]}`, func(a *answer) bool {
			return len(a.Emit) == 2 && reflect.DeepEqual(a.Emit[0].Args, []any{[]byte{1}}) && a.Emit[1].Event == "f" &&
				reflect.DeepEqual(a.Join, []string{"a"}) && reflect.DeepEqual(a.Leave, []string{"b"})
		}},
		{` {"unknown":{"ignored":true}} `, func(a *answer) bool { return true }},
	}
	for _, tc := range ok {
		a, err := decodeAnswer([]byte(tc.in), 32)
		if err != nil || !tc.check(a) {
			t.Errorf("%s: %+v %v", tc.in, a, err)
		}
	}
	bad := []string{
		``, `null`, `[]`, `"x"`, `1`, `{`, `{"a":1}{}`, `{} x`, "{\"data\":\"\xff\"}",
		`{"user":{"name":"no id"}}`, `{"user":{"id":""}}`, `{"user":{"id":1}}`, `{"user":"u"}`, `{"user":{"id":"u","roles":"a"}}`,
		`{"user":{"id":"u","roles":[1]}}`, `{"rooms":"r"}`, `{"rooms":[""]}`, `{"rooms":[1]}`, `{"join":["` + strings.Repeat("r", 1001) + `"]}`,
		`{"ack":{}}`, `{"emit":[{"args":[]}]}`, `{"emit":[{"event":"disconnect"}]}`, `{"emit":{"event":"e"}}`,
		`{"error":{}}`, `{"error":{"code":1}}`, `{"error":"x"}`,
		`{"ack":[{"_binary":true}]}`, `{"ack":[{"_binary":true,"base64":"%%%"}]}`,
		`{"data":` + strings.Repeat("[", 32) + strings.Repeat("]", 32) + `}`,
	}
	for _, in := range bad {
		if a, err := decodeAnswer([]byte(in), 32); err == nil {
			t.Errorf("%q accepted: %+v", in, a)
		}
	}
	// The depth bound includes the outer object.
	in := `{"data":` + strings.Repeat("[", 31) + strings.Repeat("]", 31) + `}`
	if _, err := decodeAnswer([]byte(in), 32); err != nil {
		t.Errorf("depth 32 refused: %v", err)
	}
}

func TestBinaryMarkerRoundTrip(t *testing.T) {
	args := []any{[]byte{0, 0xff}, map[string]any{"k": []any{[]byte("hi"), "s"}}, json.Number("3")}
	for i, a := range args {
		args[i] = encodeBinary(a)
	}
	text, err := marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	if string(text) != `[{"_binary":true,"base64":"AP8="},{"k":[{"_binary":true,"base64":"aGk="},"s"]},3]` {
		t.Fatalf("encoded %s", text)
	}
	a, err := decodeAnswer([]byte(`{"ack":`+string(text)+`}`), 32)
	if err != nil {
		t.Fatal(err)
	}
	want := []any{[]byte{0, 0xff}, map[string]any{"k": []any{[]byte("hi"), "s"}}, json.Number("3")}
	if !reflect.DeepEqual(a.Ack, want) {
		t.Fatalf("decoded %#v", a.Ack)
	}
}

// FuzzDecodeAnswer: any input either fails cleanly or yields an answer
// whose parts the bridge can hand to the broker (acks and emits encode).
func FuzzDecodeAnswer(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"user":{"id":"u","roles":["a"]},"data":{"x":[1,{"y":null}]},"rooms":["r"]}`,
		`{"error":{"code":"C","message":"m","data":{"d":1}}}`,
		`{"ack":[{"_binary":true,"base64":"AAE="}],"emit":[{"event":"e","args":[{"_binary":true,"base64":"AQ=="}]}],"join":["a"],"leave":["b"]}`,
		`{"ack":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`, `{"user":{"id":"\u0000"}}`, "{\"a\":\"\xff\"}", `{"ack":[1e999]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		a, err := decodeAnswer(in, 32)
		if err != nil {
			return
		}
		if !bytes.ContainsRune(in, '{') {
			t.Fatalf("accepted a non-object %q", in)
		}
		if a.User != nil && a.User.ID == "" {
			t.Fatal("user without id")
		}
		if a.Error != nil && a.Error.Code == "" {
			t.Fatal("error without code")
		}
		if _, _, err := protocol.EncodeArgs(a.Ack); err != nil {
			t.Fatalf("ack does not encode: %v", err)
		}
		for _, e := range a.Emit {
			if _, _, err := protocol.EncodeArgs(append([]any{e.Event}, e.Args...)); err != nil {
				t.Fatalf("emit does not encode: %v", err)
			}
		}
	})
}
