package node

import (
	"errors"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/rs/zerolog"
)

// flakyListener fails its first accepts like a process out of file
// descriptors.
type flakyListener struct {
	net.Listener
	fail int
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if l.fail > 0 {
		l.fail--
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

func TestAcceptErrorsCountedAndServingContinues(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	al := &acceptListener{Listener: &flakyListener{Listener: ln, fail: 3}, log: zerolog.Nop()}
	defer al.Close()
	for i := 0; i < 3; i++ {
		if _, err := al.Accept(); !errors.Is(err, syscall.EMFILE) {
			t.Fatalf("accept %d: %v", i, err)
		}
	}
	go func() {
		if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
			c.Close()
		}
	}()
	c, err := al.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if st := al.stats(); st.AcceptErrors != 3 || st.FDExhaustion != 3 {
		t.Fatalf("stats %+v", st)
	}
}
