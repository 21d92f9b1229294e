package tokenserver

import (
	"net"
	"runtime"
)

// FairListener wraps a listener so that busy keep-alive connections are
// served round-robin.
//
// Go's network poller hands the connections that became readable during a
// busy stretch to the scheduler together, most recent first, so under load
// the request that arrived first in a batch is served last in the next one,
// and latency spreads from zero to twice the mean. A connection that yields
// once before it reads its next request goes to the back of the run queue
// instead; by the time it runs again its client has usually sent the next
// request, so it never waits in the poller and every connection takes its
// turn. On an idle server the yield returns at once.
func FairListener(ln net.Listener) net.Listener { return fairListener{ln} }

type fairListener struct{ net.Listener }

func (l fairListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &fairConn{Conn: c}, nil
}

type fairConn struct{ net.Conn }

func (c *fairConn) Read(b []byte) (int, error) {
	runtime.Gosched()
	return c.Conn.Read(b)
}
