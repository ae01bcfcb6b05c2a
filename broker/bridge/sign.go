package bridge

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// SignatureHeader carries the request signature:
//
//	X-Ionbus-Signature: t=1764033600,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd
//
// v1 is hex(HMAC-SHA256(secret, t + "." + body)) over the raw body bytes;
// t is Unix seconds. A receiver recomputes v1, compares in constant time
// and refuses a t too far from its clock (replays).
const SignatureHeader = "X-Ionbus-Signature"

// Errors of Verify.
var (
	ErrSignatureMissing  = errors.New("bridge: signature missing or malformed")
	ErrSignatureMismatch = errors.New("bridge: signature does not match")
	ErrSignatureExpired  = errors.New("bridge: signature timestamp outside the tolerance")
)

// Sign returns the X-Ionbus-Signature value for body sent at t.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks header (the X-Ionbus-Signature value) against body: one
// of its v1 values must be the HMAC of its t and body, and t must be
// within tolerance of now (either side). Several v1 values are accepted
// so a receiver can verify during a secret rotation by calling Verify
// per secret.
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts string
	var sigs [][]byte
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return ErrSignatureMissing
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			b, err := hex.DecodeString(v)
			if err != nil {
				return ErrSignatureMissing
			}
			sigs = append(sigs, b)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return ErrSignatureMissing
	}
	want := mac(secret, ts, body)
	match := false
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			match = true
		}
	}
	if !match {
		return ErrSignatureMismatch
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrSignatureExpired
	}
	return nil
}
