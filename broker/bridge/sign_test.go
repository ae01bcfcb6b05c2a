package bridge

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestSignVerify(t *testing.T) {
	secret := []byte("k")
	at := time.Unix(1764033600, 0)
	body := []byte(`{"type":"connect"}`)
	sig := Sign(secret, at, body)
	// Pinned: hex(HMAC-SHA256("k", "1764033600." + body)).
	if want := "t=1764033600,v1="; !strings.HasPrefix(sig, want) || len(sig) != len(want)+64 {
		t.Fatalf("signature %q", sig)
	}
	if sig != Sign(secret, at, body) {
		t.Fatal("not deterministic")
	}
	cases := []struct {
		name   string
		secret []byte
		header string
		body   []byte
		now    time.Time
		want   error
	}{
		{"valid", secret, sig, body, at.Add(30 * time.Second), nil},
		{"clock behind", secret, sig, body, at.Add(-30 * time.Second), nil},
		{"tampered body", secret, sig, []byte(`{"type":"connecT"}`), at, ErrSignatureMismatch},
		{"other secret", []byte("j"), sig, body, at, ErrSignatureMismatch},
		{"stale", secret, sig, body, at.Add(6 * time.Minute), ErrSignatureExpired},
		{"from the future", secret, sig, body, at.Add(-6 * time.Minute), ErrSignatureExpired},
		{"replayed with a new t", secret, strings.Replace(sig, "t=1764033600", "t=1764033900", 1), body, at.Add(5 * time.Minute), ErrSignatureMismatch},
		{"rotation: second v1 matches", secret, "t=1764033600,v1=00," + sig[len("t=1764033600,"):], body, at, nil},
		{"empty", secret, "", body, at, ErrSignatureMissing},
		{"no v1", secret, "t=1764033600", body, at, ErrSignatureMissing},
		{"bad hex", secret, "t=1764033600,v1=zz", body, at, ErrSignatureMissing},
		{"bad t", secret, "t=x," + sig[len("t=1764033600,"):], body, at, ErrSignatureMissing},
	}
	for _, tc := range cases {
		if err := Verify(tc.secret, tc.header, tc.body, tc.now, 5*time.Minute); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v want %v", tc.name, err, tc.want)
		}
	}
}

// FuzzVerify: any header and body is answered with nil or one of the
// three errors, never a panic, and nil only for a header that carries
// the body's true HMAC.
func FuzzVerify(f *testing.F) {
	secret := []byte("fuzz-secret")
	now := time.Unix(1764033600, 0)
	body := []byte(`{"type":"event"}`)
	f.Add(Sign(secret, now, body), body)
	f.Add("t=1764033600,v1=zz", body)
	f.Add("t=,v1=", []byte{})
	f.Add("v1=00,v1=11,t=-1", []byte("x"))
	f.Add("t=99999999999999999999,v1=00", body)
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		err := Verify(secret, header, body, now, 5*time.Minute)
		switch {
		case err == nil:
			// The last t= is the one signed; the header must carry its
			// true HMAC over body.
			var ts string
			for part := range strings.SplitSeq(header, ",") {
				if v, ok := strings.CutPrefix(strings.TrimSpace(part), "t="); ok {
					ts = v
				}
			}
			if !strings.Contains(strings.ToLower(header), "v1="+hex.EncodeToString(mac(secret, ts, body))) {
				t.Fatalf("accepted %q for body %q", header, body)
			}
		case errors.Is(err, ErrSignatureMissing), errors.Is(err, ErrSignatureMismatch), errors.Is(err, ErrSignatureExpired):
		default:
			t.Fatalf("unexpected error %v", err)
		}
	})
}
