package protocol

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDecodeArgs(t *testing.T) {
	tests := []struct {
		name        string
		data        string
		attachments [][]byte
		want        []any
	}{
		{"empty data", ``, nil, nil},
		{"empty array", `[]`, nil, []any{}},
		{"scalars", `["ev",1,"s",true,false,null]`, nil, []any{"ev", json.Number("1"), "s", true, false, nil}},
		{"number text preserved", `["n",1.0,1e3,12345678901234567890,-0,0.1e-7]`, nil,
			[]any{"n", json.Number("1.0"), json.Number("1e3"), json.Number("12345678901234567890"), json.Number("-0"), json.Number("0.1e-7")}},
		{"nested", `["e",{"a":[1,{"b":"c"}]}]`, nil,
			[]any{"e", map[string]any{"a": []any{json.Number("1"), map[string]any{"b": "c"}}}}},
		{"binary", `["baz",{"_placeholder":true,"num":0}]`, [][]byte{bin1234}, []any{"baz", bin1234}},
		{"nested binary", `["up",{"file":{"_placeholder":true,"num":1},"parts":[{"_placeholder":true,"num":0},"x"]}]`,
			[][]byte{bin12, bin34},
			[]any{"up", map[string]any{"file": bin34, "parts": []any{bin12, "x"}}}},
		{"placeholder without attachments stays a map", `["a",{"_placeholder":true,"num":0}]`, nil,
			[]any{"a", map[string]any{"_placeholder": true, "num": json.Number("0")}}},
		{"placeholder false stays a map", `["a",{"_placeholder":false,"num":7}]`, [][]byte{{1}},
			[]any{"a", map[string]any{"_placeholder": false, "num": json.Number("7")}}},
		{"whitespace", " [ \"a\" ,\n1 ] ", nil, []any{"a", json.Number("1")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeArgs(raw(tc.data), tc.attachments)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

func TestArgsDepth(t *testing.T) {
	nest := func(levels int) []byte { // the outer array included
		return []byte(`["a",` + strings.Repeat("[", levels-1) + strings.Repeat("]", levels-1) + `]`)
	}
	args, err := DecodeArgs(nest(MaxArgsDepth), nil)
	if err != nil {
		t.Fatalf("depth %d: %v", MaxArgsDepth, err)
	}
	data, _, err := EncodeArgs(args)
	if err != nil || string(data) != string(nest(MaxArgsDepth)) {
		t.Fatalf("re-encode at depth %d: %v", MaxArgsDepth, err)
	}
	if _, err := DecodeArgs(nest(MaxArgsDepth+1), nil); !errors.Is(err, ErrTooDeep) {
		t.Fatalf("depth %d: %v", MaxArgsDepth+1, err)
	}
}

func TestDecodeArgsNilAttachment(t *testing.T) {
	args, err := DecodeArgs(raw(`["a",{"_placeholder":true,"num":0}]`), [][]byte{nil})
	if err != nil {
		t.Fatal(err)
	}
	if b, ok := args[1].([]byte); !ok || b == nil {
		t.Fatalf("nil attachment decoded as %#v, want non-nil empty []byte", args[1])
	}
}

func TestDecodeArgsErrors(t *testing.T) {
	tests := []struct {
		name        string
		data        string
		attachments [][]byte
	}{
		{"not an array", `{"a":1}`, nil},
		{"string", `"a"`, nil},
		{"invalid", `["a",]`, nil},
		{"trailing data", `["a"]x`, nil},
		{"two values", `["a"]["b"]`, nil},
		{"invalid utf8", "[\"a\xff\"]", nil},
		{"num out of range", `["a",{"_placeholder":true,"num":1}]`, [][]byte{{1}}},
		{"num negative", `["a",{"_placeholder":true,"num":-1}]`, [][]byte{{1}}},
		{"num fraction", `["a",{"_placeholder":true,"num":0.5}]`, [][]byte{{1}}},
		{"num missing", `["a",{"_placeholder":true}]`, [][]byte{{1}}},
		{"num string", `["a",{"_placeholder":true,"num":"0"}]`, [][]byte{{1}}},
		{"nested num out of range", `["a",[[{"_placeholder":true,"num":3}]]]`, [][]byte{{1}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeArgs(raw(tc.data), tc.attachments)
			if !errors.Is(err, ErrInvalidPacket) {
				t.Fatalf("got %#v, %v; want ErrInvalidPacket", got, err)
			}
		})
	}
}

type point struct {
	X    int    `json:"x"`
	Name string `json:"name,omitempty"`
	Raw  []byte `json:"raw,omitempty"`
}

type celsius float64

func (c celsius) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Duration(c).String() + `"`), nil
}

func TestEncodeArgs(t *testing.T) {
	str := "s"
	tests := []struct {
		name        string
		args        []any
		want        string
		attachments [][]byte
	}{
		{"none", nil, `[]`, nil},
		{"scalars", []any{"ev", 1, 2.5, true, nil, "<&>"}, `["ev",1,2.5,true,null,"<&>"]`, nil},
		{"json.Number text", []any{"n", json.Number("1.0"), json.Number("1e3"), json.Number("12345678901234567890")},
			`["n",1.0,1e3,12345678901234567890]`, nil},
		{"raw message verbatim", []any{"r", json.RawMessage(`{"b":1, "a":[ 2 ]}`)}, `["r",{"b":1, "a":[ 2 ]}]`, nil},
		{"map keys sorted", []any{"m", map[string]any{"b": 1, "a": "x"}}, `["m",{"a":"x","b":1}]`, nil},
		{"binary top level", []any{"baz", bin1234}, `["baz",{"_placeholder":true,"num":0}]`, [][]byte{bin1234}},
		{"binary nested in map and slice", []any{"up", map[string]any{"parts": []any{bin12, "x"}, "file": bin34}},
			`["up",{"file":{"_placeholder":true,"num":0},"parts":[{"_placeholder":true,"num":1},"x"]}]`, [][]byte{bin34, bin12}},
		{"typed containers", []any{"t", [][]byte{bin12, bin34}, map[string][]byte{"k": bin1234}, []string{"a"}},
			`["t",[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}],{"k":{"_placeholder":true,"num":2}},["a"]]`,
			[][]byte{bin12, bin34, bin1234}},
		{"pointer to bytes", []any{"p", &bin12, &str}, `["p",{"_placeholder":true,"num":0},"s"]`, [][]byte{bin12}},
		{"nil values", []any{"n", []byte(nil), []any(nil), map[string]any(nil), (*int)(nil)}, `["n",null,null,null,null]`, nil},
		{"struct via encoding/json", []any{"s", point{X: 1, Name: "<a>", Raw: []byte{1}}}, `["s",{"x":1,"name":"<a>","raw":"AQ=="}]`, nil},
		{"marshaler", []any{"m", celsius(1e9)}, `["m","1s"]`, nil},
		{"byte array is numbers", []any{"a", [2]byte{1, 2}}, `["a",[1,2]]`, nil},
		{"int keyed map via encoding/json", []any{"i", map[int]string{2: "b", 1: "a"}}, `["i",{"1":"a","2":"b"}]`, nil},
		{"string escapes", []any{"e", "q\"b\\n\n\t\x01\u2028\xff"}, `["e","q\"b\\n\n\t\u0001\u2028\ufffd"]`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data, atts, err := EncodeArgs(tc.args)
			if err != nil {
				t.Fatal(err)
			}
			if string(data) != tc.want {
				t.Fatalf("data %s, want %s", data, tc.want)
			}
			if !reflect.DeepEqual(atts, tc.attachments) {
				t.Fatalf("attachments %v, want %v", atts, tc.attachments)
			}
			if HasBinary(tc.args) != (len(atts) > 0) {
				t.Fatalf("HasBinary = %v with %d attachments", HasBinary(tc.args), len(atts))
			}
			if err := ValidJSON(data, 100); err != nil {
				t.Fatalf("EncodeArgs produced invalid JSON: %v", err)
			}
		})
	}
}

func TestEncodeArgsErrors(t *testing.T) {
	cyc := []any{nil}
	cyc[0] = cyc
	tests := []struct {
		name string
		args []any
	}{
		{"bad json.Number", []any{json.Number("1.")}},
		{"bad json.Number words", []any{json.Number("one")}},
		{"bad raw message", []any{json.RawMessage(`{"a":}`)}},
		{"NaN", []any{math.NaN()}},
		{"channel", []any{make(chan int)}},
		{"cycle", cyc},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if data, _, err := EncodeArgs(tc.args); err == nil {
				t.Fatalf("no error, data %s", data)
			}
		})
	}
}

// TestArgsRoundTrip: DecodeArgs(EncodeArgs(x)) == x for values in DecodeArgs' own output
// shape, including number text and binary at any depth.
func TestArgsRoundTrip(t *testing.T) {
	cases := [][]any{
		{"n", json.Number("1.0"), json.Number("1e3"), json.Number("12345678901234567890"), json.Number("-1.5E-300")},
		{"b", []byte{}, []byte{0, 255}, map[string]any{"deep": []any{[]any{[]any{[]byte("x")}}, map[string]any{"y": []byte("y")}}}},
		{"u", "é🎉\u2028", map[string]any{"": nil, "k\n": false}},
		{"p", map[string]any{"_placeholder": true, "num": json.Number("0")}}, // no binary: stays a map
	}
	for _, args := range cases {
		data, atts, err := EncodeArgs(args)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeArgs(data, atts)
		if err != nil {
			t.Fatalf("%s: %v", data, err)
		}
		if !reflect.DeepEqual(got, args) {
			t.Fatalf("round trip of %s:\n got %#v\nwant %#v", data, got, args)
		}
		// Through a real packet too.
		p := &Packet{Type: PacketEvent, Namespace: "/x", ID: 3, Data: data, Attachments: atts}
		var d Decoder
		dp := decodeAll(t, &d, Encode(p), atts)
		if !reflect.DeepEqual(dp, p) {
			t.Fatalf("packet round trip: got %+v want %+v", dp, p)
		}
	}
}

func TestHasBinary(t *testing.T) {
	tests := []struct {
		v    any
		want bool
	}{
		{nil, false},
		{"s", false},
		{[]byte{}, true},
		{[]byte(nil), false},
		{json.RawMessage(`"x"`), false},
		{[]any{1, []any{map[string]any{"a": []byte{1}}}}, true},
		{map[string]any{"a": []any{"x"}}, false},
		{&[]any{[]byte{1}}, true},
		{point{Raw: []byte{1}}, false}, // structs go through encoding/json (base64)
		{[2]byte{}, false},
		{[][]byte{nil, {1}}, true},
		{map[string]*[]byte{"a": nil}, false},
	}
	for i, tc := range tests {
		if got := HasBinary(tc.v); got != tc.want {
			t.Errorf("%d: HasBinary(%#v) = %v, want %v", i, tc.v, got, tc.want)
		}
	}
}

func TestValidJSON(t *testing.T) {
	valid := []string{`0`, `-0.5e+3`, `"a"`, `" \" \\ \/ \b \f \n \r \t \u00e9 "`, `[]`, `{}`, ` [1, {"a": [null, true, false]}] `,
		`"é🎉"`, `1E9`, `[[[[]]]]`}
	for _, s := range valid {
		if err := ValidJSON([]byte(s), 0); err != nil {
			t.Errorf("ValidJSON(%q) = %v", s, err)
		}
		if !json.Valid([]byte(s)) {
			t.Errorf("test bug: %q is not valid for encoding/json", s)
		}
	}
	invalid := []string{``, ` `, `[`, `]`, `{"a"}`, `{"a":1,}`, `{1:1}`, `[1 2]`, `01`, `1.`, `.1`, `1e`, `-`, `+1`, `tru`, `nul`,
		`"\u12"`, `"\a"`, "\"\x00\"", "\"\xc3\"", `[1]]`, `"a" "b"`, `Infinity`, `'a'`}
	for _, s := range invalid {
		if err := ValidJSON([]byte(s), 0); !errors.Is(err, ErrInvalidPacket) {
			t.Errorf("ValidJSON(%q) = %v, want ErrInvalidPacket", s, err)
		}
	}
	if err := ValidJSON([]byte(strings.Repeat("[", 33)+strings.Repeat("]", 33)), 0); !errors.Is(err, ErrTooDeep) {
		t.Errorf("default depth: %v", err)
	}
	if err := ValidJSON([]byte(`{"a":{"b":1}}`), 1); !errors.Is(err, ErrTooDeep) {
		t.Errorf("depth 1: %v", err)
	}
	doc := []byte(`["a",{"b":[1,2.5,"c\n"]},null]`)
	if testing.AllocsPerRun(100, func() { _ = ValidJSON(doc, 0) }) != 0 {
		t.Error("ValidJSON allocates")
	}
}
