package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// selfSigned writes a certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ionbus test"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:   time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	_ = os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	_ = os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile
}

// TestServeTLS: with tls.cert_file/key_file the public listener speaks
// TLS; a websocket over it connects to a namespace and stays on the
// goroutine reader (not adopted by the epoll loop).
func TestServeTLS(t *testing.T) {
	cert, key := selfSigned(t)
	a, public, _, _ := startApp(t, nil, map[string]string{"IONBUS_TLS_CERT_FILE": cert, "IONBUS_TLS_KEY_FILE": key})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	url := strings.Replace(public, "http://", "wss://", 1) + "/socket.io/?EIO=4&transport=websocket"
	conn, br, _, err := ws.Dialer{TLSConfig: &tls.Config{InsecureSkipVerify: true}}.Dial(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	var r io.Reader = conn
	if br != nil { // frames that came with the 101 response
		r = io.MultiReader(br, conn)
	}
	rw := struct {
		io.Reader
		io.Writer
	}{r, conn}
	if msg, err := wsutil.ReadServerText(rw); err != nil || !strings.HasPrefix(string(msg), "0{") {
		t.Fatalf("open packet %q, %v", msg, err)
	}
	if err := wsutil.WriteClientText(rw, []byte("40")); err != nil {
		t.Fatal(err)
	}
	if msg, err := wsutil.ReadServerText(rw); err != nil || !strings.HasPrefix(string(msg), `40{"sid":`) {
		t.Fatalf("connect answer %q, %v", msg, err)
	}
	if n := a.Server().Engine().Stats().PollerAdopted; n != 0 {
		t.Fatalf("a TLS websocket was adopted by the epoll loop (%d)", n)
	}
	if _, err := loadConfig([]string{"--listen", "127.0.0.1:0"}, envMap(map[string]string{"IONBUS_TLS_CERT_FILE": cert}), nil); err == nil ||
		!strings.Contains(err.Error(), "tls: cert_file and key_file go together") {
		t.Fatalf("half a TLS config: %v", err)
	}
}
