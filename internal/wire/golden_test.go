package wire_test

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/ionbus/ionbus/internal/golden"
	"github.com/ionbus/ionbus/internal/wire"
)

// TestNotepackGolden: Go encodes every value exactly as notepack.io does,
// and decodes notepack's bytes back to the same JSON.
func TestNotepackGolden(t *testing.T) {
	d := golden.Load(t)
	if len(d.Notepack) < 40 {
		t.Fatalf("only %d vectors", len(d.Notepack))
	}
	for _, it := range d.Notepack {
		t.Run(it.Name, func(t *testing.T) {
			want := it.Bytes()
			var v wire.Value
			if strings.HasPrefix(it.Name, "bin ") {
				b, _ := hex.DecodeString(it.Bin)
				v = wire.Bytes(b)
			} else {
				var err error
				if v, err = wire.ParseJSON([]byte(it.JSON), nil); err != nil {
					t.Fatal(err)
				}
			}
			if !it.DecodeOnly {
				if got := v.Msgpack(); !bytes.Equal(got, want) {
					t.Fatalf("encode\n got %x\nwant %x", got, want)
				}
			}
			dec, err := wire.DecodeMsgpack(want)
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(it.Name, "bin ") {
				if dec.Type != wire.Binary || hex.EncodeToString(dec.Bin) != it.Bin {
					t.Fatalf("decoded %+v", dec)
				}
				return
			}
			if got := string(dec.JSON()); got != it.Decoded {
				t.Fatalf("decode -> JSON.stringify\n got %s\nwant %s", got, it.Decoded)
			}
		})
	}
}
